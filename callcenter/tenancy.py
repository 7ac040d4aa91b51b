"""Which business a request acts for.

The user's only membership, or the one named by the X-Business-Id header when the user
belongs to several. No membership, a header naming a business the user is not a member of,
or several memberships and no header: 403. Where a client cannot send headers (an <audio>
element, a link), the `?business_id=` query parameter stands in for the header: views that
accept it use BusinessFromQueryMixin, and links to them are built with `business_url`.
"""

from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from callcenter.models import Business, Membership
from callcenter.ops import logs

BUSINESS_HEADER = "X-Business-Id"
BUSINESS_QUERY_PARAMETER = "business_id"


def business_for_user(*, user, business_id: str | None) -> Business:
    if not user or not user.is_authenticated:
        raise PermissionDenied(_("Authentication required."))
    memberships = Membership.objects.filter(user=user).select_related("business")
    wanted = None
    if business_id not in (None, ""):
        try:
            wanted = int(business_id)
        except (TypeError, ValueError):
            raise PermissionDenied(_("The X-Business-Id header must be a business id.")) from None
    # Token authentication has read them already, the wanted business's first.
    read = getattr(user, "memberships_read", None)
    if read is not None and read.wanted == wanted:
        found = read.memberships
    elif wanted is not None:
        found = list(memberships.filter(business_id=wanted)[:1])
    else:
        found = list(memberships[:2])
    if wanted is not None:
        if not found or found[0].business_id != wanted:
            raise PermissionDenied(_("You are not a member of this business."))
        return found[0].business
    if not found:
        raise PermissionDenied(_("You are not a member of any business."))
    if len(found) > 1:
        raise PermissionDenied(_("You belong to several businesses: name one in the X-Business-Id header."))
    return found[0].business


def business_zone(business: Business) -> ZoneInfo:
    """The business's time zone: API times (JSON and CSV) are shown in it."""
    try:
        return ZoneInfo(business.time_zone or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def request_business(request) -> Business:
    business = getattr(request, "_callcenter_business", None)
    if business is None:
        business = business_for_user(user=request.user, business_id=request.headers.get(BUSINESS_HEADER))
        request._callcenter_business = business
    # API times are shown in the business's zone (however the business was named);
    # ApiJsonErrorsMiddleware deactivates it when the response leaves.
    timezone.activate(business_zone(business))
    return business


def user_business_ids(user) -> list[int]:
    """Businesses whose rows this user may see in the admin (all of them for superusers)."""
    if user.is_superuser:
        return list(Business.objects.values_list("id", flat=True))
    return list(Membership.objects.filter(user=user).values_list("business_id", flat=True))


class HasBusiness(BasePermission):
    """Authenticated, and acting for exactly one business the user is a member of."""

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        request.business = request_business(request)
        logs.bind(business_id=request.business.pk)
        return True


class BusinessScopedMixin:
    """For API views: every queryset starts from the request's business."""

    @property
    def business(self) -> Business:
        return request_business(self.request)

    def check_permissions(self, request):
        # Throttles before permissions (DRF runs them after): a client without valid
        # credentials is limited per IP too, instead of getting unlimited 401s.
        super().check_throttles(request)
        super().check_permissions(request)

    def check_throttles(self, request):
        """Already done in check_permissions."""


def business_from_query(*, user, business_id: str) -> Business:
    """The business `?business_id=` names. Membership is checked as for the header;
    superusers, who see every business in the admin, may name any."""
    if user.is_superuser and business_id.isdigit():
        business = Business.objects.filter(pk=int(business_id)).first()
        if business is not None:
            return business
    return business_for_user(user=user, business_id=business_id)


class BusinessFromQueryMixin(BusinessScopedMixin):
    """For API views that media elements and links call: `?business_id=` names the
    business when no X-Business-Id header does."""

    def check_permissions(self, request):
        business_id = request.query_params.get(BUSINESS_QUERY_PARAMETER)
        if business_id and not request.headers.get(BUSINESS_HEADER) and request.user.is_authenticated:
            request._callcenter_business = business_from_query(user=request.user, business_id=business_id)
        super().check_permissions(request)


def business_url(viewname: str, *, business_id: int, **kwargs) -> str:
    """The path of `viewname` with the business in the query, for a page or element that
    cannot send the X-Business-Id header."""
    return f"{reverse(viewname, kwargs=kwargs)}?{urlencode({BUSINESS_QUERY_PARAMETER: business_id})}"
