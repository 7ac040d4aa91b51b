"""Settings, all overridable from the environment.

Embedded default: a SQLite file and django-q2's ORM broker, so the whole system runs on
one machine. Production: DATABASE_URL (PostgreSQL) and REDIS_URL.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CALLCENTER_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
# The development key is used only with DJANGO_DEBUG on; with it off the web server refuses to
# start without DJANGO_SECRET_KEY (callcenter.production.require_production_secret_key).
DEVELOPMENT_SECRET_KEY = "insecure-development-key-change-me-in-production"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "") or DEVELOPMENT_SECRET_KEY
# Django's test client adds "testserver" itself while tests run.
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "callcenter.admin_site.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "callcenter",
    "leads",
    "outbound",
    "recordings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "callcenter.api_middleware.ApiJsonErrorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: it answers a locked-out admin login before the view runs.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "callcenter.urls"
WSGI_APPLICATION = "callcenter.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Before the apps' own templates: the console overrides admin/base_site.html.
        "DIRS": [BASE_DIR / "callcenter" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'callcenter.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of failing
    # with "database is locked" halfway through a transaction; WAL lets readers go on.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# The per-call path's own statements (outbound/services/sql.py) are prepared on each
# PostgreSQL connection. Off behind a transaction pooler without prepared statement
# support (PgBouncer before 1.21, or without max_prepared_statements): docs/scaling.md.
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, i18n -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out username/IP before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LANGUAGE_CODE = "he"
LANGUAGES = [("he", _("Hebrew")), ("en", _("English"))]
# The second catalog translates Django REST framework's own messages (it ships no Hebrew).
LOCALE_PATHS = [BASE_DIR / "callcenter" / "locale", BASE_DIR / "callcenter" / "locale_rest_framework"]
USE_I18N = True
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Jerusalem")
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
WHITENOISE_USE_FINDERS = True

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an API client without credentials gets 401 with WWW-Authenticate.
        "callcenter.authentication.LockoutTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["callcenter.tenancy.HasBusiness"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "callcenter.pagination.PagePagination",
    "PAGE_SIZE": 50,
    # JSON bodies only (the CSV import names its own multipart parser): one documented shape.
    "DEFAULT_PARSER_CLASSES": ["callcenter.parsers.BoundedJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        # Per client IP for requests without valid credentials, per user otherwise.
        "anon": os.environ.get("API_THROTTLE_ANON_RATE", "120/min"),
        "user": os.environ.get("API_THROTTLE_USER_RATE", "2000/min"),
        # Failed token authentications per client IP (callcenter.authentication).
        "failed_token": os.environ.get("API_THROTTLE_FAILED_TOKEN_RATE", "20/hour"),
    },
    "NUM_PROXIES": env_int("DJANGO_NUM_PROXIES", 0),
    "EXCEPTION_HANDLER": "callcenter.api_errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "callcenter.schema.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Call center API",
    "DESCRIPTION": "Leads, outbound call runs, recordings and the background jobs behind them.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Served from our own static files: the docs work without reaching a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"ActiveJobStatusEnum": ["queued", "running"]},
}

# --- Background jobs (django-q2) ------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
Q_CLUSTER = {
    "name": "callcenter",
    "workers": env_int("Q_WORKERS", 2),
    "timeout": env_int("Q_TIMEOUT_SECONDS", 3 * 3600),
    "retry": env_int("Q_TIMEOUT_SECONDS", 3 * 3600) + 600,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "label": _("Task queue"),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 0.5

BACKGROUND_JOB_STALE_THRESHOLD_MINUTES = env_int("BACKGROUND_JOB_STALE_THRESHOLD_MINUTES", 10)
RECORDING_JOB_TIMEOUT_MINUTES = env_int("RECORDING_JOB_TIMEOUT_MINUTES", 5)
OUTBOUND_MAX_CONCURRENCY = env_int("OUTBOUND_MAX_CONCURRENCY", 3)

# --- Twilio ---------------------------------------------------------------------------
# Without TWILIO_ACCOUNT_SID the run command starts the local simulator and points these
# at it. PUBLIC_BASE_URL is the address Twilio reaches us at (callbacks, signatures).
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM_NUMBER = os.environ.get("TWILIO_FROM_NUMBER", "")
TWILIO_API_BASE_URL = os.environ.get("TWILIO_API_BASE_URL", "")
TWILIO_TIMEOUT_SECONDS = float(os.environ.get("TWILIO_TIMEOUT_SECONDS", "10"))
TWILIO_CALLS_PER_SECOND = float(os.environ.get("TWILIO_CALLS_PER_SECOND", "1"))
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
# The local Twilio simulator (app twilio_sim: `manage.py twilio_sim`, `manage.py demo_calls`)
# is installed only where it stands in for Twilio: without an account (the run command sets
# TWILIO_SIMULATOR=1 as it points TWILIO_* at it), in the tests and the benchmarks. A host
# with real credentials never has it.
TWILIO_SIMULATOR = env_bool("TWILIO_SIMULATOR", not TWILIO_ACCOUNT_SID)
if TWILIO_SIMULATOR:
    INSTALLED_APPS.append("twilio_sim")

# --- Leads ----------------------------------------------------------------------------
LEADS_DEFAULT_REGION = os.environ.get("LEADS_DEFAULT_REGION", "IL")
# Leads per batch of a bulk job (each batch one short transaction and one heartbeat) and
# rows per batch of an import.
LEADS_JOB_BATCH_SIZE = env_int("LEADS_JOB_BATCH_SIZE", 20000)
LEADS_IMPORT_BATCH_SIZE = env_int("LEADS_IMPORT_BATCH_SIZE", 5000)
# Rejected rows kept in an import's report (all are counted).
LEADS_IMPORT_MAX_REPORTED_ERRORS = env_int("LEADS_IMPORT_MAX_REPORTED_ERRORS", 10000)
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {})["LeadStatusEnum"] = "leads.models.Lead.Status"
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]["CallOutcomeEnum"] = "leads.models.CallOutcome"

# --- Outbound calls -------------------------------------------------------------------
# busy / no-answer are dialed again after OUTBOUND_RETRY_DELAY_SECONDS, up to
# OUTBOUND_MAX_ATTEMPTS calls per lead in total.
OUTBOUND_MAX_ATTEMPTS = env_int("OUTBOUND_MAX_ATTEMPTS", 2)
OUTBOUND_RETRY_DELAY_SECONDS = env_int("OUTBOUND_RETRY_DELAY_SECONDS", 300)
# Backoff after a retryable calls.create error (429, 5xx): base * 2**errors, capped.
OUTBOUND_DIAL_BACKOFF_SECONDS = float(os.environ.get("OUTBOUND_DIAL_BACKOFF_SECONDS", "2"))
OUTBOUND_DIAL_BACKOFF_MAX_SECONDS = float(os.environ.get("OUTBOUND_DIAL_BACKOFF_MAX_SECONDS", "120"))
# Reconciler thresholds: an active call without a callback for this long is fetched from
# Twilio; a dial whose calls.create never answered is looked up after this long.
OUTBOUND_STUCK_CALL_SECONDS = env_int("OUTBOUND_STUCK_CALL_SECONDS", 180)
OUTBOUND_LOST_DIAL_SECONDS = env_int("OUTBOUND_LOST_DIAL_SECONDS", 60)
# Wake-ups (a retry or a backoff falling due, a silent call to fetch) are handed to workers
# by a pump in each qcluster worker, which looks again at least this often (seconds).
OUTBOUND_WAKEUP_POLL_SECONDS = float(os.environ.get("OUTBOUND_WAKEUP_POLL_SECONDS", "0.5"))
# Dials are spaced out while this host's CPUs are saturated: while the share of time in which
# a task waited for a CPU (Linux PSI, over a quarter second) is above this limit, each
# process's dials come further apart, each waiting at most the given seconds. The calls
# already going on keep their webhooks answered promptly. 0: never spaced.
OUTBOUND_DIAL_CPU_PRESSURE_LIMIT = max(0.0, float(os.environ.get("OUTBOUND_DIAL_CPU_PRESSURE_LIMIT", "0.4")))
OUTBOUND_DIAL_CPU_PRESSURE_MAX_WAIT_SECONDS = max(
    0.0, float(os.environ.get("OUTBOUND_DIAL_CPU_PRESSURE_MAX_WAIT_SECONDS", "2"))
)
# A claim that never reached calls.create (its process died while waiting for the pacer).
OUTBOUND_LOST_CLAIM_SECONDS = env_int("OUTBOUND_LOST_CLAIM_SECONDS", 600)
# "queue": fills triggered by callbacks run on a django-q2 worker; "inline": in the request.
OUTBOUND_DISPATCH = os.environ.get("OUTBOUND_DISPATCH", "queue")
# Calling hours in each business's time zone, "HH:MM"; empty means any time.
OUTBOUND_CALLING_HOURS_START = os.environ.get("OUTBOUND_CALLING_HOURS_START", "")
OUTBOUND_CALLING_HOURS_END = os.environ.get("OUTBOUND_CALLING_HOURS_END", "")
# What the callee hears: the agent number is dialed when set, otherwise the message is said.
OUTBOUND_VOICE_MESSAGE = os.environ.get(
    "OUTBOUND_VOICE_MESSAGE", "שלום, זוהי שיחה מהמוקד. נציג יחזור אליכם בהקדם. תודה."
)
OUTBOUND_AGENT_NUMBER = os.environ.get("OUTBOUND_AGENT_NUMBER", "")
# The key a callee presses to opt out of further calls, offered after the message (not when
# connected to an agent). Empty: no opt-out offered.
OUTBOUND_OPT_OUT_DIGIT = os.environ.get("OUTBOUND_OPT_OUT_DIGIT", "9").strip()[:1]
OUTBOUND_RECORD_CALLS = env_bool("OUTBOUND_RECORD_CALLS", False)
OUTBOUND_MACHINE_DETECTION = env_bool("OUTBOUND_MACHINE_DETECTION", False)
OUTBOUND_RING_TIMEOUT_SECONDS = env_int("OUTBOUND_RING_TIMEOUT_SECONDS", 30)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # The twilio client logs every request's headers at INFO; only its warnings by default.
    "loggers": {"twilio.http_client": {"level": os.environ.get("TWILIO_HTTP_LOG_LEVEL", "WARNING")}},
}

# --- Recordings -----------------------------------------------------------------------
# A download run with no sign of life for RECORDING_JOB_TIMEOUT_MINUTES is stuck (above).
# RECORDING_MAX_FAILED_RUNS failed download runs for one call end in a final error until
# staff force a new one. Within one run a retryable failure is attempted again after a
# growing delay, RECORDING_RUN_MAX_ATTEMPTS attempts in all (RecordingRun.attempts counts
# them); the longest delay stays well inside the timeout.
RECORDING_MAX_FAILED_RUNS = env_int("RECORDING_MAX_FAILED_RUNS", 5)
RECORDING_RUN_MAX_ATTEMPTS = env_int("RECORDING_RUN_MAX_ATTEMPTS", 4)
RECORDING_RETRY_BACKOFF_SECONDS = env_int("RECORDING_RETRY_BACKOFF_SECONDS", 15)
RECORDING_RETRY_BACKOFF_MAX_SECONDS = env_int("RECORDING_RETRY_BACKOFF_MAX_SECONDS", 120)
RECORDING_HEARTBEAT_SECONDS = float(os.environ.get("RECORDING_HEARTBEAT_SECONDS", "5"))
# What 202 answers tell clients to wait (Retry-After, seconds).
RECORDING_RETRY_AFTER_SECONDS = env_int("RECORDING_RETRY_AFTER_SECONDS", 3)
# The player waits Retry-After times this factor (1 in production; tests make it small).
RECORDING_PLAYER_WAIT_SCALE = float(os.environ.get("RECORDING_PLAYER_WAIT_SCALE", "1"))
RECORDING_PLAYER_MAX_TRIES = env_int("RECORDING_PLAYER_MAX_TRIES", 12)
RECORDING_FORMAT = os.environ.get("RECORDING_FORMAT", "mp3")
# How long the signed file URL the prepare endpoint hands out stays valid (recordings.signed_urls):
# long enough to listen through a call; also how long access outlives a removed membership.
RECORDING_URL_MAX_AGE_SECONDS = env_int("RECORDING_URL_MAX_AGE_SECONDS", 3600)
# How long a process takes a ready recording it has just served by signed URL to be still
# ready, without asking the database again (recordings.services.ReadyRecordings); 0: every time.
RECORDING_READY_CACHE_SECONDS = env_int("RECORDING_READY_CACHE_SECONDS", 2)

# --- Production security --------------------------------------------------------------
# All off by default (the embedded default serves plain HTTP on 127.0.0.1); docs/deploy.md
# lists the production environment, under which `manage.py check --deploy` is clean.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
# Set only behind a proxy that overwrites this header (nginx: proxy_set_header X-Forwarded-Proto $scheme).
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz and /readyz are asked over plain HTTP by the load balancer.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# --- Throttling and login lockout -----------------------------------------------------
# Throttle counters and lockouts live in the cache: Redis when REDIS_URL is set, so every
# web process counts together; otherwise each process counts on its own.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = None
AXES_IPWARE_PROXY_COUNT = env_int("DJANGO_NUM_PROXIES", 0) or None
AXES_VERBOSE = False

# --- Input limits ---------------------------------------------------------------------
# Request bodies other than uploaded files, and form fields per request (413/400 JSON on /api/).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("API_MAX_BODY_BYTES", 2_621_440)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("API_MAX_FORM_FIELDS", 1000)
# JSON nested deeper than this is refused (400) before it reaches a view.
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 32)
# Rows per page of every list (?page_size= up to this).
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 500)
# Lead ids one request may name (bulk jobs, outbound runs); a filter selects more.
API_MAX_IDS_PER_REQUEST = env_int("API_MAX_IDS_PER_REQUEST", 10_000)
# custom_fields of one lead: names, characters of a name and of a value, nesting.
LEADS_MAX_CUSTOM_FIELDS = env_int("LEADS_MAX_CUSTOM_FIELDS", 100)
LEADS_MAX_CUSTOM_FIELD_CHARS = env_int("LEADS_MAX_CUSTOM_FIELD_CHARS", 10_000)
# CSV imports: the file, one cell and one row, all checked before the import job starts.
LEADS_IMPORT_MAX_FILE_BYTES = env_int("LEADS_IMPORT_MAX_FILE_BYTES", 20 * 1024 * 1024)
LEADS_IMPORT_MAX_CELL_CHARS = env_int("LEADS_IMPORT_MAX_CELL_CHARS", 10_000)
LEADS_IMPORT_MAX_ROW_CHARS = env_int("LEADS_IMPORT_MAX_ROW_CHARS", 100_000)

# --- Operations: health, metrics, logs, front-server file delivery ----------------------
# Kept in one block of their own. /metrics answers only `Authorization: Bearer
# <METRICS_TOKEN>` when a token is set, else only clients in METRICS_ALLOWED_NETWORKS.
# With PROMETHEUS_MULTIPROC_DIR set (gunicorn, django-q2) each process writes its counters
# there; METRICS_MULTIPROC_DIRS lists every such directory of this host to add them up.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = [
    n.strip() for n in os.environ.get("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128").split(",") if n.strip()
]
METRICS_MULTIPROC_DIRS = [d.strip() for d in os.environ.get("METRICS_MULTIPROC_DIRS", "").split(",") if d.strip()]
# /readyz: the scheduler ticks about every 30 s; a due schedule this late means it stopped.
READYZ_SCHEDULER_MAX_LAG_SECONDS = env_int("READYZ_SCHEDULER_MAX_LAG_SECONDS", 180)
READYZ_SKIP_CHECKS = {c.strip() for c in os.environ.get("READYZ_SKIP_CHECKS", "").split(",") if c.strip()}
# Q_SCHEDULER=false: a cluster that only works (deploy/systemd/callcenter-worker.service);
# the scheduler runs in clusters that keep the default (callcenter-scheduler.service).
Q_CLUSTER["scheduler"] = env_bool("Q_SCHEDULER", True)
if not REDIS_URL:
    # django-q2 clusters report themselves through a cache; with the ORM broker that cache
    # must be shared by the processes of the host for /readyz to see the cluster.
    CACHES = globals().get("CACHES") or {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CACHES["qcluster_stats"] = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "qcluster-stats"),
    }
    Q_CLUSTER.setdefault("cache", "qcluster_stats")

# LOG_FORMAT=json: one JSON object a line with request_id, business_id, run_id, job_id,
# call_sid where known. LOG_REQUESTS: one line per request (on by default with json).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
LOG_REQUESTS = env_bool("LOG_REQUESTS", LOG_FORMAT == "json")
MIDDLEWARE = ["callcenter.ops.middleware.RequestContextMiddleware", *MIDDLEWARE]
LOGGING.setdefault("filters", {})["context"] = {"()": "callcenter.ops.logs.ContextFilter"}
LOGGING["handlers"]["console"]["filters"] = ["context"]
LOGGING["formatters"]["json"] = {
    "()": "pythonjsonlogger.json.JsonFormatter",
    "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
    "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
}
if LOG_FORMAT == "json":
    LOGGING["handlers"]["console"]["formatter"] = "json"

# Requests with a larger body answer 413 (nginx's client_max_body_size says the same): the
# largest lead import file plus 1 MiB for the multipart envelope, 21 MiB by default.
UPLOAD_MAX_BYTES = env_int(
    "UPLOAD_MAX_BYTES", globals().get("LEADS_IMPORT_MAX_FILE_BYTES", 20 * 1024 * 1024) + 1024 * 1024
)
# Who sends a recording's bytes once Django has checked the request: "django" streams them
# itself; "x-accel-redirect" (nginx) or "x-sendfile" (Apache, lighttpd) hand the file to
# the front server. Range, ETag and 304 answer the same either way.
RECORDING_FILE_DELIVERY = os.environ.get("RECORDING_FILE_DELIVERY", "django")
# nginx's internal location that maps to MEDIA_ROOT (deploy/nginx/callcenter.conf).
RECORDING_ACCEL_REDIRECT_PREFIX = os.environ.get("RECORDING_ACCEL_REDIRECT_PREFIX", "/_protected_media/")
