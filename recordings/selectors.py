import functools

from django.conf import settings
from django.db import connection
from django.db.models import FilteredRelation, Q, QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from callcenter.errors import NotFound
from callcenter.models import Business
from callcenter.tenancy import user_business_ids
from recordings.models import Recording, RecordingRun


def recording_list(*, business: Business) -> QuerySet[Recording]:
    return Recording.objects.filter(business=business)


def recording_get(*, business: Business, call_sid: str) -> tuple[Recording, RecordingRun | None]:
    """The recording of `call_sid` in `business` and its active download run, if any, in one
    statement (pollers ask every few seconds); 404 for an unknown call, another business's
    call, or a call without a recording (all look the same from here). At most one run of a
    call is active (idx_recording_runs_unique_active), so the join adds no row."""
    found = (
        recording_list(business=business)
        .filter(call_sid=call_sid)
        .annotate(
            active_run=FilteredRelation(
                "runs",
                condition=Q(runs__business=business, runs__status__in=RecordingRun.ACTIVE_STATUSES),
            )
        )
        .select_related("active_run")
        .order_by()  # at most one row (uniq_recordings_business_call): no sort to build or run
    )
    recording = next(iter(found[:1]), None)
    if recording is None:
        raise NotFound(_("No recording was found for this call."), extra={"call_sid": call_sid})
    # select_related sets the attribute only when the join found a run.
    return recording, getattr(recording, "active_run", None)


# What serving the file needs (recordings.file_responses) and what decides it can be served.
_FILE_FIELDS = (
    "id",
    "business",
    "call_sid",
    "file",
    "size_bytes",
    "content_type",
    "checksum_sha256",
    "downloaded_at",
    "absent_at",
)
_FILE_ATTNAMES = tuple(Recording._meta.get_field(name).attname for name in _FILE_FIELDS)


@functools.cache
def _recording_file_statement() -> tuple[str, list]:
    """The SELECT of _FILE_FIELDS by business and call, and the database's converters of the
    columns that have any (SQLite returns datetimes as text): what the ORM would build and
    apply, computed once."""
    meta, quote = Recording._meta, connection.ops.quote_name
    columns = [meta.get_field(name).get_col(meta.db_table) for name in _FILE_FIELDS]
    business, call_sid = (quote(meta.get_field(name).column) for name in ("business", "call_sid"))
    # Identifiers from the model, quoted; the values are parameters. At most one row:
    # uniq_recordings_business_call.
    selected = ", ".join(quote(column.target.column) for column in columns)
    sql = f"SELECT {selected} FROM {quote(meta.db_table)} WHERE {business} = %s AND {call_sid} = %s"  # noqa: S608
    converters = []
    for index, column in enumerate(columns):
        functions = [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]
        if functions:
            converters.append((index, column, functions))
    return sql, converters


def recording_file_get(*, business_id: int, call_sid: str) -> Recording:
    """recording_get for the signed file URL, asked once per range a player reads: the
    columns serving needs in one statement, written out once (building it through the ORM
    each time cost as much as running it), without loading the business."""
    sql, converters = _recording_file_statement()
    with connection.cursor() as cursor:
        cursor.execute(sql, [business_id, call_sid])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(_("No recording was found for this call."), extra={"call_sid": call_sid})
    values = list(row)
    for index, column, functions in converters:
        for convert in functions:
            values[index] = convert(values[index], column, connection)
    return Recording.from_db(connection.alias, _FILE_ATTNAMES, values)


def recording_runs_failed_count(*, recording: Recording) -> int:
    """Failed runs that count against RECORDING_MAX_FAILED_RUNS (those after a forced reset)."""
    runs = RecordingRun.objects.filter(recording=recording, status=RecordingRun.Status.FAILED)
    if recording.attempts_reset_at is not None:
        runs = runs.filter(created_at__gte=recording.attempts_reset_at)
    return runs.count()


def recording_run_last_failed(*, recording: Recording) -> RecordingRun | None:
    return RecordingRun.objects.filter(recording=recording, status=RecordingRun.Status.FAILED).order_by("-id").first()


def recording_for_user(*, user, call_sid: str, business_id: str | None = None) -> Recording | None:
    """The recording of `call_sid` among the businesses `user` may see (all of them for
    superusers), optionally narrowed to one business."""
    recordings = Recording.objects.filter(call_sid=call_sid, business_id__in=user_business_ids(user))
    if business_id not in (None, ""):
        if not str(business_id).isdigit():
            return None
        recordings = recordings.filter(business_id=int(business_id))
    return recordings.order_by("business_id").first()


def recording_call(*, recording: Recording):
    """The call this recording is of (phone, lead, run), for the player page."""
    from outbound.models import OutboundCallJob

    return (
        OutboundCallJob.objects.filter(business_id=recording.business_id, call_sid=recording.call_sid)
        .select_related("run")
        .first()
    )


def recording_unavailable_reason(*, recording: Recording) -> str:
    """Why the recording cannot be had, or "": Twilio kept none, or every allowed download
    failed. The player page says it at once and asks nothing."""
    from recordings.errors import RecordingAbsent

    if recording.absent_at is not None:
        return str(RecordingAbsent.default_message)
    if recording.is_ready or recording_runs_failed_count(recording=recording) < settings.RECORDING_MAX_FAILED_RUNS:
        return ""
    return gettext(
        "The recording could not be downloaded after %(attempts)s attempts, so it cannot be played. "
        "An administrator can try again from the recordings list."
    ) % {"attempts": settings.RECORDING_MAX_FAILED_RUNS}
