"""Token authentication that locks a client IP out after repeated wrong tokens, and reads
the token, its user and the memberships the request's business is chosen from in one query."""

from dataclasses import dataclass

from django.db.models import Case, Value, When
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.throttling import SimpleRateThrottle

from callcenter.models import Membership


class FailedTokenThrottle(SimpleRateThrottle):
    """Counts wrong tokens per client IP (the "failed_token" rate); while the count is over
    the rate, every token from that IP is refused with 429, right or wrong."""

    scope = "failed_token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def locked_out(self, request) -> bool:
        self.key = self.get_cache_key(request, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        return len(self.history) >= self.num_requests

    def record_failure(self) -> None:
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)


@dataclass(frozen=True)
class MembershipsRead:
    """Up to two of a user's memberships, the one of business `wanted` first when it exists:
    all that tenancy.business_for_user needs to choose the request's business."""

    wanted: int | None
    memberships: list[Membership]


def wanted_business_id(request) -> int | None:
    """The business the request names (X-Business-Id, else ?business_id=), when it is a number."""
    from callcenter.tenancy import BUSINESS_HEADER, BUSINESS_QUERY_PARAMETER

    named = request.headers.get(BUSINESS_HEADER) or request.GET.get(BUSINESS_QUERY_PARAMETER) or ""
    if not (named.isascii() and named.isdigit()) or len(named) > 18:
        return None  # not a business id (tenancy refuses it) or past any id
    return int(named)


class LockoutTokenAuthentication(TokenAuthentication):
    def authenticate(self, request):
        if not request.META.get("HTTP_AUTHORIZATION"):
            return None
        throttle = FailedTokenThrottle()
        if throttle.locked_out(request):
            raise Throttled(wait=throttle.wait())
        self.wanted_business = wanted_business_id(request)
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            throttle.record_failure()
            raise

    def authenticate_credentials(self, key):
        # Every API request needs the token, its user and the user's memberships: one round
        # trip instead of two. A token whose user belongs to no business falls back to DRF's
        # own lookup, which also tells a wrong token apart.
        wanted = getattr(self, "wanted_business", None)
        memberships = list(
            Membership.objects.select_related("business", "user__auth_token")
            .filter(user__auth_token__key=key)
            .order_by(Case(When(business_id=wanted, then=Value(0)), default=Value(1)), "id")[:2]
        )
        if not memberships:
            return super().authenticate_credentials(key)
        user = memberships[0].user
        if not user.is_active:
            raise AuthenticationFailed(_("User inactive or deleted."))
        for membership in memberships:
            membership.user = user
        user.memberships_read = MembershipsRead(wanted=wanted, memberships=memberships)
        return user, user.auth_token
