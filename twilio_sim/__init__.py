"""A local Twilio: the REST subset the gateway uses, driven call lifecycles with signed
callbacks, recordings with real audio, and configurable faults."""

from twilio_sim.config import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, SIM_FROM_NUMBER, SimConfig
from twilio_sim.server import TwilioSimulator
from twilio_sim.timeline import calls_matching, max_overlap

__all__ = [
    "SIM_ACCOUNT_SID",
    "SIM_AUTH_TOKEN",
    "SIM_FROM_NUMBER",
    "SimConfig",
    "TwilioSimulator",
    "calls_matching",
    "max_overlap",
]
