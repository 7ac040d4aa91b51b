import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callcenter.settings")
application = get_wsgi_application()

from callcenter.production import require_production_secret_key  # noqa: E402 (needs the settings)

require_production_secret_key()
