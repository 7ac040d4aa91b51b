import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from rest_framework.authtoken.models import Token

from callcenter import services
from callcenter.models import Business, Membership


class Command(BaseCommand):
    help = "Create the demo business and an admin user (once), and print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("DEMO_ADMIN_USERNAME", "admin"))
        parser.add_argument("--business", default=os.environ.get("DEMO_BUSINESS_NAME", "Demo call center"))

    @transaction.atomic
    def handle(self, *args, username: str, business: str, **options):
        User = get_user_model()
        demo = Business.objects.filter(name=business).first() or services.business_create(name=business)
        user = User.objects.filter(username=username).first()
        password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(9)
        if user is None:
            user = User.objects.create_superuser(username=username, email="", password=password)
            state = "created"
        else:
            user.set_password(password)
            user.is_staff = user.is_superuser = True
            user.save()
            state = "password reset"
        services.membership_create(business=demo, user=user, role=Membership.Role.OWNER)
        token, _created = Token.objects.get_or_create(user=user)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo business #{demo.pk} '{demo.name}'; admin user {state}:\n"
                f"  username: {username}\n  password: {password}\n  API token: {token.key}"
            )
        )
