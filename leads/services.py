"""Every write to leads: single-lead changes, and the bulk jobs (delete, delete what an
import created, update) that run in batches under the guarded background job service.

A bulk job walks its selection by keyset (id > last id) in batches of
LEADS_JOB_BATCH_SIZE ids, each batch in its own short transaction, and reports progress
after each one; a cancel request or a lost job stops it between batches, so every batch is
either wholly applied or not at all.
"""

import logging
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Func, JSONField, QuerySet, Value
from django.db.models.sql import subqueries as sql
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from callcenter.errors import Conflict
from callcenter.models import BackgroundJob, Business
from callcenter.services import JobContext, JobInterrupted, background_job_start
from callcenter.validators import validate_json_object
from leads import selectors
from leads.errors import LeadInputInvalid
from leads.models import DoNotCallNumber, Lead
from leads.phones import InvalidPhone, phone_normalize, phone_time_zone
from leads.signals import lead_batch_pre_delete

logger = logging.getLogger(__name__)
JobType = BackgroundJob.JobType

UPDATABLE_FIELDS = ("status", "do_not_call", "custom_fields")


# --- Single leads -----------------------------------------------------------------------


def _clean_phone(raw) -> str:
    try:
        return phone_normalize(str(raw or ""))
    except InvalidPhone as invalid:
        raise LeadInputInvalid({"phone": invalid.messages}) from None


def _clean_email(raw) -> str:
    email = (raw or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise LeadInputInvalid({"email": [_("Enter a valid email address.")]}) from None
    return email


def _phone_taken() -> LeadInputInvalid:
    return LeadInputInvalid({"phone": [_("A lead with this phone number already exists.")]})


def lead_create(
    *,
    business: Business,
    phone: str,
    name: str = "",
    email: str = "",
    custom_fields: dict | None = None,
    status: str = Lead.Status.NEW,
    do_not_call: bool = False,
) -> Lead:
    phone = _clean_phone(phone)
    lead = Lead(
        business=business,
        phone=phone,
        time_zone=phone_time_zone(phone, default=business.time_zone),
        name=name or "",
        email=_clean_email(email),
        custom_fields=custom_fields or {},
        status=status,
        do_not_call=do_not_call,
    )
    # The unique (business, phone) constraint decides; the savepoint keeps the caller's
    # transaction usable after the conflict.
    try:
        with transaction.atomic():
            lead.save(force_insert=True)
    except IntegrityError:
        raise _phone_taken() from None
    return lead


def lead_update(*, business: Business, lead_id: int, **changes) -> Lead:
    allowed = {"phone", "name", "email", "custom_fields", "status", "do_not_call"}
    unknown = set(changes) - allowed
    if unknown:
        raise LeadInputInvalid({name: [_("This field cannot be changed.")] for name in sorted(unknown)})
    lead = selectors.lead_get(business=business, lead_id=lead_id)
    if "phone" in changes:
        changes["phone"] = _clean_phone(changes["phone"])
        changes["time_zone"] = phone_time_zone(changes["phone"], default=business.time_zone)
    if "email" in changes:
        changes["email"] = _clean_email(changes["email"])
    for name, value in changes.items():
        setattr(lead, name, value)
    try:
        with transaction.atomic():
            lead.save(update_fields=[*changes, "updated_at"])
    except IntegrityError:
        raise _phone_taken() from None
    return lead


def lead_delete(*, business: Business, lead_id: int) -> None:
    """Delete one lead, unless it is in an active call (409)."""
    lead = selectors.lead_get(business=business, lead_id=lead_id)
    _deleted, kept = leads_delete_batch(business=business, lead_ids=[lead.pk])
    if kept:
        raise Conflict(_("The lead is in an active call and cannot be deleted now."), extra={"lead_id": lead.pk})


# --- One batch of a bulk job ----------------------------------------------------------


def leads_delete_batch(*, business: Business, lead_ids: list[int], within: QuerySet[Lead] | None = None):
    """Delete these leads of `business` in one transaction, except the ones a receiver of
    lead_batch_pre_delete keeps (e.g. in a call now). Returns (deleted count, kept ids).

    One plain DELETE, not Django's collector: the collector loads every object and its
    relations, which for a million leads costs minutes and gigabytes.

    `within`, the job's selection, with ascending `lead_ids` from it, lets the DELETE
    walk the id range of the batch instead of looking up each id in the primary key
    (several times faster). It returns the ids it deleted; should any lie outside the batch
    (a row committed into the range meanwhile, unseen by the receivers), the batch is
    rolled back and done again by exact ids. So is a batch whose DELETE fails a foreign
    key: a reference to one of its leads appeared after the receivers looked.
    """
    if within is not None and lead_ids:
        try:
            return _delete_batch(business, lead_ids, within=within.filter(pk__gte=lead_ids[0], pk__lte=lead_ids[-1]))
        except (_BatchDrifted, IntegrityError) as redo:
            logger.info("Delete batch %s..%s: %r; done again by ids", lead_ids[0], lead_ids[-1], redo)
    try:
        return _delete_batch(business, lead_ids, within=None)
    except IntegrityError:
        # A row referencing one of these leads was committed after the receivers looked
        # (e.g. a run started with them meanwhile); this time they see it.
        logger.info("Delete batch of %s leads met a new reference to them; done again", len(lead_ids))
        return _delete_batch(business, lead_ids, within=None)


class _BatchDrifted(Exception):
    pass


def _delete_batch(business: Business, lead_ids: list[int], *, within) -> tuple[int, set[int]]:
    with transaction.atomic():
        kept: set[int] = set()
        for _receiver, keep in lead_batch_pre_delete.send(sender=Lead, business=business, lead_ids=lead_ids):
            if keep:
                kept.update(keep)
        kept &= set(lead_ids)
        doomed = [lead_id for lead_id in lead_ids if lead_id not in kept]
        if not doomed:
            return 0, kept
        if within is None:
            batch = Lead.objects.filter(business=business, pk__any=doomed)
            deleted = batch._raw_delete(batch.db)
            _check_references_now()
            return deleted, kept
        rows = within.filter(business=business)
        if kept:
            rows = rows.exclude(pk__in=kept)
        deleted_ids = _raw_delete_returning_ids(rows)
        if not deleted_ids <= set(doomed):
            raise _BatchDrifted()
        _check_references_now()
    return len(deleted_ids), kept


def _check_references_now() -> None:
    """Check the deferred foreign keys to leads here, inside the batch's savepoint, not at
    commit: a violation then rolls back just this batch, which the caller does again,
    instead of failing the job at its commit. Only those keys, and deferred again after,
    so that nothing else of the caller's transaction is checked early."""
    if connection.vendor != "postgresql":
        return
    constraints = _deferred_foreign_keys_to_leads(connection.alias)
    if constraints:
        with connection.cursor() as cursor:
            cursor.execute(f"SET CONSTRAINTS {constraints} IMMEDIATE")
            cursor.execute(f"SET CONSTRAINTS {constraints} DEFERRED")


@lru_cache(maxsize=4)
def _deferred_foreign_keys_to_leads(alias: str) -> str:
    """The schema-qualified, quoted names of the foreign keys to leads that are deferred by
    default (as Django makes them), which _check_references_now sets back to deferred."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.conname) FROM pg_constraint c"
            " JOIN pg_namespace n ON n.oid = c.connamespace"
            " WHERE c.contype = 'f' AND c.condeferred AND c.confrelid = %s::regclass ORDER BY 1",
            [Lead._meta.db_table],
        )
        return ", ".join(name for (name,) in cursor.fetchall())


def _raw_delete_returning_ids(queryset: QuerySet[Lead]) -> set[int]:
    """QuerySet._raw_delete (one DELETE, no collector) that also returns the deleted ids."""
    query = queryset.query.clone()
    query.__class__ = sql.DeleteQuery
    statement, params = query.get_compiler(queryset.db).as_sql()
    pk_column = connections[queryset.db].ops.quote_name(Lead._meta.pk.column)
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"{statement} RETURNING {pk_column}", params)
        return {row[0] for row in cursor.fetchall()}


class JSONMerge(Func):
    """custom_fields merged with new keys (new values win)."""

    output_field = JSONField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="(%(expressions)s)", arg_joiner=" || ", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # Not JSON_PATCH: it merges nested objects and drops keys set to null, where `||`
        # replaces each given key's value whole. The object is rebuilt from the old pairs
        # whose key is not given and the given pairs; json() keeps objects, arrays, booleans
        # and null JSON values rather than strings or numbers.
        current, current_params = compiler.compile(self.source_expressions[0])
        given, given_params = compiler.compile(self.source_expressions[1])
        value = (
            "CASE type WHEN 'true' THEN json('true') WHEN 'false' THEN json('false') WHEN 'null' THEN json('null')"
            " WHEN 'object' THEN json(value) WHEN 'array' THEN json(value) ELSE value END"
        )
        # Only compiled expressions are spliced in; the given object is a parameter.
        kept = f"SELECT key, value, type FROM json_each({current})"  # noqa: S608
        given_pairs = f"SELECT key, value, type FROM json_each({given})"  # noqa: S608
        pairs = f"{kept} WHERE key NOT IN (SELECT key FROM json_each({given})) UNION ALL {given_pairs}"  # noqa: S608
        sql = f"(SELECT json_group_object(key, {value}) FROM ({pairs}))"  # noqa: S608
        return sql, (*current_params, *given_params, *given_params)


def leads_update_batch(*, business: Business, lead_ids: list[int], changes: dict) -> int:
    values = {name: changes[name] for name in ("status", "do_not_call") if name in changes}
    if changes.get("custom_fields"):
        values["custom_fields"] = JSONMerge("custom_fields", Value(changes["custom_fields"], JSONField()))
    with transaction.atomic():
        return Lead.objects.filter(business=business, pk__any=lead_ids).update(**values, updated_at=timezone.now())


# --- Starting the bulk jobs -----------------------------------------------------------


def _validated_changes(changes: dict) -> dict:
    errors: dict[str, list] = {}
    clean: dict = {}
    if "status" in changes and changes["status"] is not None:
        if changes["status"] not in Lead.Status.values:
            errors["status"] = [_("Unknown status.")]
        clean["status"] = changes["status"]
    if "do_not_call" in changes and changes["do_not_call"] is not None:
        if not isinstance(changes["do_not_call"], bool):
            errors["do_not_call"] = [_("Use true or false.")]
        clean["do_not_call"] = changes["do_not_call"]
    custom = changes.get("custom_fields")
    if custom:
        try:
            validate_json_object(
                custom, max_names=settings.LEADS_MAX_CUSTOM_FIELDS, max_chars=settings.LEADS_MAX_CUSTOM_FIELD_CHARS
            )
        except ValidationError as error:
            errors["custom_fields"] = error.messages
        clean["custom_fields"] = custom
    if not errors and not clean:
        errors["non_field_errors"] = [_("Choose at least one change: status, do not call or custom fields.")]
    if errors:
        raise LeadInputInvalid(errors)
    return clean


def leads_bulk_delete_start(*, business: Business, selection: dict, created_by=None) -> BackgroundJob:
    """Start the delete_leads job for a selection ({"lead_ids": [...]} or {"filter": {...}})."""
    # Counting validates the selection, and the job's total is known from its first moment.
    total = selectors.lead_selection_count(business=business, selection=selection)
    return background_job_start(
        business=business,
        job_type=JobType.DELETE_LEADS,
        payload={"selection": selection},
        created_by=created_by,
        progress_total=total,
        task="leads.tasks.delete_leads",
    )


def lead_import_delete_start(*, business: Business, import_id: int, created_by=None) -> BackgroundJob:
    """Start the delete_imported_leads job: every lead this import created."""
    lead_import = selectors.lead_import_get(business=business, import_id=import_id)
    return background_job_start(
        business=business,
        job_type=JobType.DELETE_IMPORTED_LEADS,
        payload={"import_id": lead_import.pk},
        created_by=created_by,
        progress_total=selectors.lead_import_leads(business=business, import_id=lead_import.pk).count(),
        task="leads.tasks.delete_imported_leads",
    )


def leads_bulk_update_start(*, business: Business, selection: dict, changes: dict, created_by=None) -> BackgroundJob:
    """Start the update_leads job: set status / do_not_call, merge custom_fields."""
    total = selectors.lead_selection_count(business=business, selection=selection)
    return background_job_start(
        business=business,
        job_type=JobType.UPDATE_LEADS,
        payload={"selection": selection, "changes": _validated_changes(changes)},
        created_by=created_by,
        progress_total=total,
        task="leads.tasks.update_leads",
    )


# --- The jobs' work (run by the worker through background_job_execute) ----------------


def _batch_size() -> int:
    return settings.LEADS_JOB_BATCH_SIZE


def _run_in_batches(ctx: JobContext, queryset, *, counters: dict, apply_batch) -> dict:
    """Walk `queryset` in id batches; `apply_batch(lead_ids) -> {counter: increment}`.

    Each batch and its heartbeat commit together: one commit per batch, and the stored
    progress never claims a batch that rolled back. A cancel noticed by the heartbeat lets
    the batch commit and stops before the next one.
    """
    total = queryset.count()
    result = ctx.result
    result.update({"total": total, **counters})
    ctx.progress(done=0, total=total)
    done = 0
    for lead_ids in selectors.lead_id_batches(queryset, batch_size=_batch_size()):
        before = dict(result)
        stop: JobInterrupted | None = None
        try:
            with transaction.atomic():
                skip_commit_flush_wait()
                for key, increment in apply_batch(lead_ids).items():
                    result[key] += increment
                try:
                    ctx.progress(done=done + len(lead_ids), total=max(total, done + len(lead_ids)))
                except JobInterrupted as interrupted:
                    stop = interrupted
        except Exception:
            result.clear()
            result.update(before)
            raise
        done += len(lead_ids)
        if stop is not None:
            raise stop
    return result


def skip_commit_flush_wait() -> None:
    """Don't wait for this transaction's WAL flush (PostgreSQL; ~half of a small batch's
    time). A crash may lose the last batches committed, never part of one: a lost batch
    and its progress vanish together; the replacement of a bulk job recovered as stale
    walks what is left, and an import is safe to run again."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _delete_in_batches(ctx: JobContext, queryset) -> dict:
    business = ctx.business

    def delete_batch(lead_ids: list[int]) -> dict:
        deleted, kept = leads_delete_batch(business=business, lead_ids=lead_ids, within=queryset)
        return {"deleted": deleted, "skipped_in_active_call": len(kept)}

    return _run_in_batches(
        ctx, queryset, counters={"deleted": 0, "skipped_in_active_call": 0}, apply_batch=delete_batch
    )


def leads_delete_job_work(ctx: JobContext) -> dict:
    queryset = selectors.lead_queryset_from_selection(business=ctx.business, selection=ctx.payload["selection"])
    return _delete_in_batches(ctx, queryset)


def lead_import_delete_job_work(ctx: JobContext) -> dict:
    import_id = ctx.payload["import_id"]
    ctx.result["import_id"] = import_id
    queryset = selectors.lead_import_leads(business=ctx.business, import_id=import_id)
    return _delete_in_batches(ctx, queryset)


def leads_update_job_work(ctx: JobContext) -> dict:
    business = ctx.business
    changes = ctx.payload["changes"]
    queryset = selectors.lead_queryset_from_selection(business=business, selection=ctx.payload["selection"])

    def update_batch(lead_ids: list[int]) -> dict:
        updated = leads_update_batch(business=business, lead_ids=lead_ids, changes=changes)
        return {"updated": updated, "skipped": len(lead_ids) - updated}  # skipped: deleted meanwhile

    return _run_in_batches(ctx, queryset, counters={"updated": 0, "skipped": 0}, apply_batch=update_batch)


def do_not_call_number_add(*, business_id: int, phone: str, source: str) -> None:
    """Put a number on the business's do-not-call list; a number already there stays as it is.

    The unique (business, phone) constraint decides (ON CONFLICT DO NOTHING), so two
    opt-outs at once store one row and neither fails.
    """
    DoNotCallNumber.objects.bulk_create(
        [DoNotCallNumber(business_id=business_id, phone=phone, source=source)], ignore_conflicts=True
    )
