"""Short-lived signed recording URLs: the `url` the prepare endpoint answers with.

A player reads a recording in many Range requests (one per seek, more for a long file).
Authenticating each of them again (token or session, then the membership) costs more than
nginx takes to send a 1 MiB range, so the prepare endpoint, which has just made those
checks, hands out a URL that carries them: an HMAC (SECRET_KEY, salted for this use) of
the business, the call and an expiry. The file endpoint then checks the signature and the
recording's state only.

The price is the revocation window: a signed URL stays valid until it expires, even when
the user's membership is removed meanwhile. RECORDING_URL_MAX_AGE_SECONDS bounds it.
"""

import re
import time
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from callcenter.tenancy import BUSINESS_QUERY_PARAMETER
from recordings.errors import RecordingUrlExpired, RecordingUrlInvalid

EXPIRES_PARAMETER = "expires"
SIGNATURE_PARAMETER = "signature"
_KEY_SALT = "recordings.signed_urls.file"
# Plain ASCII digits only ("²".isdigit() is true), and no more than a timestamp needs.
_UNSIGNED_INTEGER = re.compile(r"[0-9]{1,12}")


def _signature(*, business_id: int, call_sid: str, expires: int, secret) -> str:
    value = f"{business_id}:{call_sid}:{expires}"
    return salted_hmac(_KEY_SALT, value, secret=secret, algorithm="sha256").hexdigest()


def recording_signed_url(*, business_id: int, call_sid: str, now: float | None = None) -> str:
    """The file endpoint's path for this call, valid for RECORDING_URL_MAX_AGE_SECONDS."""
    expires = int(now if now is not None else time.time()) + settings.RECORDING_URL_MAX_AGE_SECONDS
    signature = _signature(business_id=business_id, call_sid=call_sid, expires=expires, secret=settings.SECRET_KEY)
    query = urlencode(
        {BUSINESS_QUERY_PARAMETER: business_id, EXPIRES_PARAMETER: expires, SIGNATURE_PARAMETER: signature}
    )
    return f"{reverse('recordings:file', kwargs={'call_sid': call_sid})}?{query}"


def is_signed(query: dict) -> bool:
    return SIGNATURE_PARAMETER in query


def recording_url_verify(*, query: dict, call_sid: str, now: float | None = None) -> int:
    """The business id a signed URL's query grants access to `call_sid` of.

    Raises RecordingUrlInvalid (missing or malformed parameters, a signature made for
    another business, call or expiry, or with another key) or RecordingUrlExpired.
    """
    business_id, expires = query.get(BUSINESS_QUERY_PARAMETER, ""), query.get(EXPIRES_PARAMETER, "")
    given = query.get(SIGNATURE_PARAMETER, "")
    if not (_UNSIGNED_INTEGER.fullmatch(business_id) and _UNSIGNED_INTEGER.fullmatch(expires)):
        raise RecordingUrlInvalid()
    business_id, expires = int(business_id), int(expires)
    # Every key in rotation (SECRET_KEY_FALLBACKS): URLs handed out before a rotation keep
    # working until they expire.
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        if constant_time_compare(
            _signature(business_id=business_id, call_sid=call_sid, expires=expires, secret=secret), given
        ):
            break
    else:
        raise RecordingUrlInvalid()
    if expires < (now if now is not None else time.time()):
        raise RecordingUrlExpired()
    return business_id
