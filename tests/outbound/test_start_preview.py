"""What the "start calls" confirmation counts, on ticked ids and on a filter alike."""

import pytest

from callcenter.demo_console import console_demo_create
from leads.models import DoNotCallNumber
from leads.selectors import lead_queryset_from_selection
from outbound.models import OutboundCallJob
from outbound.selectors import run_start_preview


@pytest.mark.django_db
@pytest.mark.parametrize("by", ["filter", "ids"])
def test_the_preview_counts_every_reason_to_skip(by):
    demo = console_demo_create(leads=100)
    business = demo.business
    in_call = set(
        OutboundCallJob.objects.filter(business=business, status__in=["dialing", "calling"]).values_list(
            "lead_id", flat=True
        )
    )
    # One lead's stored phone cannot be dialed (written before phones were checked).
    callable_leads = business.leads.filter(do_not_call=False).exclude(pk__in=in_call).order_by("pk")
    business.leads.filter(pk=callable_leads.last().pk).update(phone="+97212")
    # One more is on the business's do-not-call list (it opted out by keypress), not flagged.
    DoNotCallNumber.objects.create(business=business, phone=callable_leads.first().phone, source="keypress")
    selection = (
        {"filter": {"status": ["new"]}}
        if by == "filter"
        else {"lead_ids": list(business.leads.values_list("pk", flat=True))}
    )
    leads = lead_queryset_from_selection(business=business, selection=selection)

    preview = run_start_preview(business=business, leads=leads)

    do_not_call = business.leads.filter(do_not_call=True).count()
    assert preview["selected"] == 100
    assert do_not_call == 5 and preview["do_not_call"] == do_not_call + 1
    assert preview["invalid"] == 1
    assert preview["in_active_call"] == len(in_call) == 3
    assert preview["to_call"] == 100 - 6 - 1 - 3
