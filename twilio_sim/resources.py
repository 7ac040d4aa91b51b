"""Twilio's JSON representation of the simulated resources and of list pages."""

from __future__ import annotations

from urllib.parse import urlencode

from twilio_sim.state import API_VERSION, SimCall, SimRecording, rfc2822

TWILIO_API_ORIGIN = "https://api.twilio.com"


def call_resource(call: SimCall) -> dict:
    uri = f"/{API_VERSION}/Accounts/{call.account_sid}/Calls/{call.sid}"
    return {
        "sid": call.sid,
        "account_sid": call.account_sid,
        "annotation": None,
        "answered_by": call.answered_by,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": rfc2822(call.created_at),
        "date_updated": rfc2822(call.updated_at),
        "direction": "outbound-api",
        "duration": None if call.duration is None else str(call.duration),
        "end_time": rfc2822(call.ended_at),
        "forwarded_from": None,
        "from": call.from_,
        "from_formatted": call.from_,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": str(call.queue_time_ms),
        "start_time": rfc2822(call.started_at),
        "status": call.status,
        # SHAKEN/STIR attestation, reported on incoming calls only.
        "stir_verstat": None,
        "to": call.to,
        "to_formatted": call.to,
        "trunk_sid": None,
        "uri": f"{uri}.json",
        "subresource_uris": {
            "notifications": f"{uri}/Notifications.json",
            "recordings": f"{uri}/Recordings.json",
            "events": f"{uri}/Events.json",
        },
    }


def recording_resource(recording: SimRecording, *, of_call: bool = False) -> dict:
    """A recording as ``/Recordings/{sid}.json`` shows it, or with ``of_call`` as the call's
    ``/Calls/{call}/Recordings/{sid}.json`` does (its own uri and the recorded track)."""
    account_uri = f"/{API_VERSION}/Accounts/{recording.account_sid}"
    uri = f"{account_uri}/Recordings/{recording.sid}"
    finished = recording.status in ("completed", "absent")
    resource = {
        "account_sid": recording.account_sid,
        "api_version": API_VERSION,
        "call_sid": recording.call_sid,
        "conference_sid": None,
        "date_created": rfc2822(recording.created_at),
        "date_updated": rfc2822(recording.updated_at or recording.created_at),
        "start_time": rfc2822(recording.created_at),
        # Twilio reports -1 until the recording has ended.
        "duration": str(recording.duration) if finished else "-1",
        "sid": recording.sid,
        "price": None,
        "price_unit": "USD",
        "status": recording.status,
        "channels": 1,
        "source": "OutboundAPI",
        "error_code": None,
        "uri": f"{uri}.json",
        "encryption_details": None,
        "subresource_uris": {
            "add_on_results": f"{uri}/AddOnResults.json",
            "transcriptions": f"{uri}/Transcriptions.json",
        },
        "media_url": f"{TWILIO_API_ORIGIN}{uri}",
    }
    if of_call:
        resource["uri"] = f"{account_uri}/Calls/{recording.call_sid}/Recordings/{recording.sid}.json"
        resource["track"] = "both"
        del resource["subresource_uris"], resource["media_url"]
    return resource


def call_event_resource(log: dict) -> dict:
    """One request the simulator made for a call (the call's Events list)."""
    return {
        "request": {
            "method": log["method"],
            "url": log["url"],
            "parameters": dict(log["_params"]),
            "created": rfc2822(log["sent_at"] or log["due_at"]),
        },
        "response": {
            "response_code": log["http_status"],
            "content_type": None,
            "request_duration": None,
        },
    }


def list_page(*, key: str, base: str, items: list[dict], total: int, page: int, page_size: int, filters: dict) -> dict:
    """One page of a list, with Twilio's paging fields (``Page``/``PageSize`` paging)."""

    def page_uri(number: int) -> str:
        return f"{base}?{urlencode({**filters, 'PageSize': page_size, 'Page': number})}"

    return {
        key: items,
        "end": page * page_size + max(len(items) - 1, 0),
        "first_page_uri": page_uri(0),
        "next_page_uri": page_uri(page + 1) if total > (page + 1) * page_size else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": page_uri(page - 1) if page > 0 else None,
        "start": page * page_size,
        "uri": page_uri(page),
    }
