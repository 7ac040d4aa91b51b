"""Debian's nginx in front of gunicorn with the shipped site file (deploy/nginx/), on
loopback ports, for the deployment tests and the front-server benchmark.

The site file is used as shipped; only its host-specific values (ports, certificate,
upstream socket, directories) are replaced, and each replacement must find its text, so a
site file that drifts from what is tested fails here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
SITE_FILE = PROJECT_DIR / "deploy" / "nginx" / "callcenter.conf"
PROXY_SNIPPET = PROJECT_DIR / "deploy" / "nginx" / "callcenter-proxy.conf"
GUNICORN_CONFIG = PROJECT_DIR / "deploy" / "gunicorn.conf.py"


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if found is None:
        raise RuntimeError("nginx is not installed: scripts/ensure-nginx installs Debian's nginx")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_setting(name: str) -> str:
    """The value of a directive in the shipped site file (e.g. client_max_body_size)."""
    for line in SITE_FILE.read_text().splitlines():
        words = line.strip().rstrip(";").split()
        if words and words[0] == name:
            return words[1]
    raise LookupError(name)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _replace(text: str, old: str, new: str) -> str:
    if old not in text:
        raise AssertionError(f"the shipped nginx site no longer contains {old!r}")
    return text.replace(old, new)


def render_site(
    *, directory: Path, https_port: int, http_port: int, upstream: str, media_root: Path, cert: Path, key: Path
) -> Path:
    snippet = directory / "callcenter-proxy.conf"
    shutil.copyfile(PROXY_SNIPPET, snippet)
    text = SITE_FILE.read_text()
    for old, new in [
        ("server unix:/run/callcenter/web/gunicorn.sock", f"server {upstream}"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl;"),
        ("listen [::]:443 ssl http2;\n", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;\n", ""),
        ("/etc/letsencrypt/live/calls.example.com/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/calls.example.com/privkey.pem", str(key)),
        ("/var/lib/callcenter/media/", f"{media_root}/"),
        ("/srv/callcenter/var/static/", f"{directory}/static/"),
        ("/etc/nginx/snippets/callcenter-proxy.conf", str(snippet)),
        ("/var/log/nginx/", f"{directory}/"),
    ]:
        text = _replace(text, old, new)
    site = directory / "site.conf"
    site.write_text(text)
    return site


class Nginx:
    """nginx in the foreground with a main configuration of its own around the site file;
    `extra_http` adds server blocks (the benchmark's static baseline)."""

    def __init__(self, *, directory: Path, site: Path, extra_http: str = "", workers: int = 1):
        directory.mkdir(parents=True, exist_ok=True)
        user = "user root root;" if os.geteuid() == 0 else ""
        conf = directory / "nginx.conf"
        conf.write_text(
            f"""
{user}
daemon off;
worker_processes {workers};
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    {extra_http}
    include {site};
}}
"""
        )
        test = subprocess.run([nginx_binary(), "-t", "-c", str(conf), "-p", str(directory)], capture_output=True)
        if test.returncode != 0:
            raise RuntimeError(f"nginx refused the configuration: {test.stderr.decode()}")
        self.directory = directory
        self.process = subprocess.Popen(
            [nginx_binary(), "-c", str(conf), "-p", str(directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class Gunicorn:
    """gunicorn with deploy/gunicorn.conf.py, bound to a loopback port and, with `socket`, also
    to that unix socket (what the systemd unit and nginx's upstream use)."""

    def __init__(self, *, env: dict[str, str], workers: int = 2, threads: int = 4, socket: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.socket = socket
        binds = [f"127.0.0.1:{self.port}", *([f"unix:{socket}"] if socket else [])]
        full_env = {
            **os.environ,
            "GUNICORN_BIND": " ".join(binds),
            "WEB_WORKERS": str(workers),
            "WEB_THREADS": str(threads),
            "LOG_LEVEL": "WARNING",
            # A production server refuses the development key.
            "DJANGO_SECRET_KEY": "front-server-harness-" + os.urandom(16).hex(),
            **env,
        }
        if "REDIS_URL" not in env:
            full_env.pop("REDIS_URL", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG), "callcenter.wsgi"],
            cwd=PROJECT_DIR,
            env=full_env,
            start_new_session=True,
        )
        wait_until_answers(f"{self.url}/healthz", process=self.process)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


@dataclass(frozen=True)
class FrontLayout:
    """Where one nginx + gunicorn pair lives: its directory, media root, certificate and ports."""

    workdir: Path
    media_root: Path
    cert: Path
    key: Path
    https_port: int
    http_port: int

    @classmethod
    def create(cls, workdir: Path) -> FrontLayout:
        media_root = workdir / "media"
        media_root.mkdir()
        cert, key = self_signed_certificate(workdir)
        return cls(workdir, media_root, cert, key, https_port=free_port(), http_port=free_port())

    @property
    def url(self) -> str:
        return f"https://localhost:{self.https_port}"


def deployed_gunicorn(layout: FrontLayout, *, env: dict[str, str]) -> Gunicorn:
    """gunicorn on Django's database as the systemd unit runs it behind nginx (on a unix socket): 2 workers x 4
    threads, recording files handed to nginx, the counters of both workers added up from files
    (prometheus-client's multiprocess mode). `env` adds to or overrides that."""
    from django.db import connection

    return Gunicorn(
        env={
            "DATABASE_URL": database_url(connection.settings_dict),
            "MEDIA_ROOT": str(layout.media_root),
            "CALLCENTER_VAR_DIR": str(layout.workdir),
            "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
            "RECORDING_FILE_DELIVERY": "x-accel-redirect",
            "PROMETHEUS_MULTIPROC_DIR": str(layout.workdir / "metrics"),
            # nginx in front (deploy/callcenter.env.example): the client is in X-Forwarded-For.
            "DJANGO_NUM_PROXIES": "1",
            **env,
        },
        workers=2,
        threads=4,
        socket=layout.workdir / "gunicorn.sock",
    )


def render_site_in_front_of(gunicorn: Gunicorn, layout: FrontLayout) -> tuple[Path, Path]:
    """The shipped site in <workdir>/nginx, proxying to `gunicorn`: (nginx's directory, the site file)."""
    upstream = f"unix:{gunicorn.socket}" if gunicorn.socket else f"127.0.0.1:{gunicorn.port}"
    return render_layout_site(layout, upstream=upstream)


def render_layout_site(layout: FrontLayout, *, upstream: str) -> tuple[Path, Path]:
    """The shipped site in <workdir>/nginx, proxying to `upstream` (as nginx names a server):
    (nginx's directory, the site file)."""
    nginx_dir = layout.workdir / "nginx"
    nginx_dir.mkdir()
    site = render_site(
        directory=nginx_dir,
        https_port=layout.https_port,
        http_port=layout.http_port,
        upstream=upstream,
        media_root=layout.media_root,
        cert=layout.cert,
        key=layout.key,
    )
    return nginx_dir, site


def wait_until_answers(url: str, *, process: subprocess.Popen, timeout: float = 30, verify=True) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=5, verify=verify)
            return
        except requests.RequestException:
            if process.poll() is not None:
                raise RuntimeError(f"{url}: the server exited with {process.returncode}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url}: no answer within {timeout} s") from None
            time.sleep(0.2)


def database_url(settings_dict: dict) -> str:
    user = settings_dict.get("USER") or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"
