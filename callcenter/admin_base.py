from django.contrib import admin

from callcenter.tenancy import user_business_ids


class TenantScopedAdmin(admin.ModelAdmin):
    """A model admin that shows a staff user only the rows of their own businesses.

    Another business's object is simply not in the queryset, so its change page answers
    404 like any missing object.
    """

    business_field = "business"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.business_field}__in": user_business_ids(request.user)})
