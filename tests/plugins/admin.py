"""Staff users and logged-in admin clients, shared across the suite."""

from django.contrib.auth.models import Permission
from django.test import Client

from tests.factories import MembershipFactory


def staff_user(business, *codenames: str):
    """A staff member of `business` holding exactly the permissions named by `codenames`."""
    user = MembershipFactory(business=business).user
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def staff_client(business, *codenames: str) -> Client:
    """A test client logged in as a new `staff_user(business, *codenames)`."""
    client = Client()
    client.force_login(staff_user(business, *codenames))
    return client
