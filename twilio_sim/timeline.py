"""Concurrency as the telephony side saw it, computed from ``/_sim/calls`` timelines."""

from __future__ import annotations

from collections.abc import Iterable


def calls_matching(
    calls: Iterable[dict], *, callback_contains: str | None = None, to_numbers: Iterable[str] | None = None
) -> list[dict]:
    """The calls of one run: those whose status callback URL contains ``callback_contains``
    and/or whose destination is one of ``to_numbers``."""
    numbers = set(to_numbers) if to_numbers is not None else None
    selected = []
    for call in calls:
        if callback_contains is not None and callback_contains not in (call.get("status_callback") or ""):
            continue
        if numbers is not None and call.get("to") not in numbers:
            continue
        selected.append(call)
    return selected


def max_overlap(
    calls: Iterable[dict],
    *,
    callback_contains: str | None = None,
    to_numbers: Iterable[str] | None = None,
    start_key: str = "created_at",
    end_key: str = "ended_at",
) -> int:
    """The largest number of calls alive at the same instant. A call lives from ``start_key``
    (created: the moment the API accepted it) to ``end_key`` (its terminal status); one still
    alive counts until the end of time. A call ending exactly when another starts does not
    overlap it."""
    events = []
    for call in calls_matching(calls, callback_contains=callback_contains, to_numbers=to_numbers):
        start = call.get(start_key)
        if start is None:
            continue
        end = call.get(end_key)
        events.append((start, 1))
        events.append((float("inf") if end is None else end, -1))
    # At equal times the end (-1) sorts before the start (+1).
    events.sort()
    current = highest = 0
    for _, change in events:
        current += change
        highest = max(highest, current)
    return highest
