"""Which business a request acts for.

The user's only membership, or the one named by the X-Business-Id header when the user
belongs to several. No membership, a header naming a business the user is not a member of,
or several memberships and no header: 403.
"""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from callcenter.models import Business, Membership

BUSINESS_HEADER = "X-Business-Id"


def business_for_user(*, user, business_id: str | None) -> Business:
    if not user or not user.is_authenticated:
        raise PermissionDenied(_("Authentication required."))
    memberships = Membership.objects.filter(user=user).select_related("business")
    if business_id not in (None, ""):
        try:
            wanted = int(business_id)
        except (TypeError, ValueError):
            raise PermissionDenied(_("The X-Business-Id header must be a business id.")) from None
        membership = memberships.filter(business_id=wanted).first()
        if membership is None:
            raise PermissionDenied(_("You are not a member of this business."))
        return membership.business
    found = list(memberships[:2])
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
        # Deactivated by ApiJsonErrorsMiddleware when the response leaves.
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
