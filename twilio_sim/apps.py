from django.apps import AppConfig


class TwilioSimConfig(AppConfig):
    """The local Twilio simulator: a development and test tool. Installed only where a
    simulator runs (settings.TWILIO_SIMULATOR), never beside a real Twilio account."""

    name = "twilio_sim"
    verbose_name = "Twilio simulator"
