"""Reads of leads and imports, always scoped to one business."""

from collections.abc import Iterator

from django.conf import settings
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from callcenter.errors import NotFound
from callcenter.models import Business
from callcenter.validators import unstorable_text
from leads.errors import LeadInputInvalid
from leads.filters import BOOLEAN_FILTER_FIELDS, LEAD_FILTER_FIELDS, LeadFilter
from leads.models import Lead, LeadImport


def lead_list(*, business: Business) -> QuerySet[Lead]:
    return Lead.objects.filter(business=business)


def lead_get(*, business: Business, lead_id: int) -> Lead:
    lead = lead_list(business=business).filter(pk=lead_id).first()
    if lead is None:
        raise NotFound(_("Lead not found."))
    return lead


def lead_import_list(*, business: Business) -> QuerySet[LeadImport]:
    return LeadImport.objects.filter(business=business).select_related("job", "created_by")


def lead_import_get(*, business: Business, import_id: int) -> LeadImport:
    lead_import = lead_import_list(business=business).filter(pk=import_id).first()
    if lead_import is None:
        raise NotFound(_("Import not found."))
    return lead_import


def lead_filter_queryset(*, business: Business, filters: dict) -> QuerySet[Lead]:
    """Leads of `business` matching a LeadFilter dict; unknown or bad filters -> 400."""
    unknown = sorted(set(filters) - LEAD_FILTER_FIELDS)
    if unknown:
        raise LeadInputInvalid({"filter": [_("Unknown filter: %(names)s") % {"names": ", ".join(unknown)}]})
    lead_filter = LeadFilter(data=_as_query_dict(filters), queryset=lead_list(business=business))
    if not lead_filter.is_valid():
        raise LeadInputInvalid(
            {f"filter.{key}": [str(message) for message in messages] for key, messages in lead_filter.errors.items()}
        )
    return lead_filter.qs


def _as_query_dict(filters: dict) -> QueryDict:
    """A JSON filter as the query string the FilterSet reads; a value the filter would
    silently ignore (do_not_call=maybe) is an error here, because ignoring a filter of a
    bulk delete would widen it to every lead."""
    data = QueryDict(mutable=True)
    for name, value in filters.items():
        values = value if isinstance(value, list) else [value]
        texts = []
        for item in values:
            if isinstance(item, bool):
                texts.append("true" if item else "false")
            elif item is None or isinstance(item, dict | list):
                raise LeadInputInvalid({f"filter.{name}": [_("Invalid value.")]})
            elif isinstance(item, str) and unstorable_text(item):
                raise LeadInputInvalid({f"filter.{name}": [_("Null characters and lone surrogates are not allowed.")]})
            else:
                texts.append(str(item))
        if name in BOOLEAN_FILTER_FIELDS and (len(texts) != 1 or texts[0].lower() not in _BOOLEAN_TEXTS):
            raise LeadInputInvalid({f"filter.{name}": [_("Use true or false.")]})
        data.setlist(name, texts)
    return data


_BOOLEAN_TEXTS = {"true", "false", "1", "0"}


def lead_queryset_from_selection(*, business: Business, selection: dict) -> QuerySet[Lead]:
    """The leads a job payload names: {"lead_ids": [...]} or {"filter": {...LeadFilter fields...}}.

    Always within `business`: ids of another business's leads simply match nothing.
    """
    if not isinstance(selection, dict):
        raise LeadInputInvalid({"selection": [_("Give lead_ids or filter.")]})
    has_ids, has_filter = "lead_ids" in selection, "filter" in selection
    if has_ids == has_filter:
        raise LeadInputInvalid({"selection": [_("Give exactly one of lead_ids or filter.")]})
    if has_ids:
        ids = selection["lead_ids"]
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise LeadInputInvalid({"lead_ids": [_("A list of lead ids is required.")]})
        if len(ids) > settings.API_MAX_IDS_PER_REQUEST:
            raise LeadInputInvalid(
                {
                    "lead_ids": [
                        _("At most %(max)d ids; use a filter for more.") % {"max": settings.API_MAX_IDS_PER_REQUEST}
                    ]
                }
            )
        return lead_list(business=business).filter(pk__in=ids)
    filters = selection["filter"]
    if not isinstance(filters, dict):
        raise LeadInputInvalid({"filter": [_("The filter must be an object.")]})
    return lead_filter_queryset(business=business, filters=filters)


def lead_selection_count(*, business: Business, selection: dict) -> int:
    """How many leads a job on `selection` will process: the number a confirmation shows."""
    return lead_queryset_from_selection(business=business, selection=selection).count()


def lead_import_leads(*, business: Business, import_id: int) -> QuerySet[Lead]:
    """The leads an import created (what "delete imported leads" deletes)."""
    return lead_list(business=business).filter(lead_import_id=import_id)


def lead_id_batches(queryset: QuerySet[Lead], *, batch_size: int) -> Iterator[list[int]]:
    """Ids of `queryset` in ascending batches by keyset (id > last): constant memory, and
    each batch is read afresh, so rows deleted or changed by earlier batches are not seen twice."""
    last_id = 0
    while True:
        ids = list(queryset.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return
        yield ids
        last_id = ids[-1]
