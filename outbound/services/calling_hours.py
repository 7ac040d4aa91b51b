"""Calling hours, checked in each lead's own time zone when its call is claimed.

The window is the business's own CallingHours, else OUTBOUND_CALLING_HOURS_START/END
(unset: any time). A lead outside its window is not dialed: its call waits, queued and
without a slot, until window_next_open, so the leads inside their windows take the slots.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings


@dataclass(frozen=True)
class CallingWindow:
    start: time
    end: time  # earlier than the start: until the next day

    def contains(self, *, time_zone: str, at: datetime) -> bool:
        local = at.astimezone(_zone(time_zone)).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_open(self, *, time_zone: str, at: datetime) -> datetime:
        """The first moment from `at` on that falls inside the window, in `time_zone`."""
        if self.contains(time_zone=time_zone, at=at):
            return at
        zone = _zone(time_zone)
        local = at.astimezone(zone)
        opening = datetime.combine(local.date(), self.start, tzinfo=zone)
        if opening <= local:
            opening = datetime.combine(local.date() + timedelta(days=1), self.start, tzinfo=zone)
        return opening


def calling_window(*, start: time | None, end: time | None) -> CallingWindow | None:
    """The business's own hours (`start` and `end`, both or neither), else the settings';
    None when calls may go out at any time."""
    if start is not None and end is not None:
        return CallingWindow(start=start, end=end)
    start_text, end_text = settings.OUTBOUND_CALLING_HOURS_START, settings.OUTBOUND_CALLING_HOURS_END
    if not start_text or not end_text:
        return None
    return CallingWindow(start=time.fromisoformat(start_text), end=time.fromisoformat(end_text))


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)
