import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callcenter.settings")
application = get_wsgi_application()

from django.conf import settings  # noqa: E402 (needs the settings)
from django.urls import get_resolver  # noqa: E402
from django.utils import translation  # noqa: E402

from callcenter.production import require_production_secret_key  # noqa: E402

require_production_secret_key()

# The URLconf, the views it imports and the default language's catalogue load now, as the worker
# starts, instead of inside the first requests it serves: a restart in the middle of a run would
# otherwise hold Twilio's first callbacks for as long as those imports take (a few hundred ms).
get_resolver().url_patterns  # noqa: B018 (loading is the point)
translation.trans_real.translation(settings.LANGUAGE_CODE)
