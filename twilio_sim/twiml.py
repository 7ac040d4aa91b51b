"""The little of TwiML the simulator acts on: a ``<Gather>`` whose digits it may press."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urljoin


@dataclass(frozen=True)
class Gather:
    action: str  # absolute URL
    method: str
    num_digits: int | None
    finish_on_key: str


def gather_in(twiml: str, *, document_url: str) -> Gather | None:
    """The first ``<Gather>`` in ``twiml``, its action resolved against the document's URL as
    Twilio does (no action: the document's own URL); None when there is none or the TwiML
    does not parse."""
    try:
        root = ET.fromstring(twiml)  # noqa: S314 - our own server's TwiML, in tests and the demo
    except ET.ParseError:
        return None
    for element in root.iter("Gather"):
        action = (element.get("action") or "").strip()
        num_digits = element.get("numDigits")
        return Gather(
            action=urljoin(document_url, action) if action else document_url,
            method=(element.get("method") or "POST").upper(),
            num_digits=int(num_digits) if num_digits and num_digits.isdigit() else None,
            finish_on_key=element.get("finishOnKey", "#"),
        )
    return None
