"""What the "start calls" confirmation counts, on ticked ids and on a filter alike."""

import pytest

from callcenter.demo_console import console_demo_create
from leads.selectors import lead_queryset_from_selection
from outbound.models import OutboundCallJob
from outbound.selectors import run_start_preview


@pytest.mark.django_db
@pytest.mark.parametrize("by", ["filter", "ids"])
def test_the_preview_counts_every_reason_to_skip(by):
    demo = console_demo_create(leads=100)
    business = demo.business
    # One lead's stored phone cannot be dialed (written before phones were checked).
    business.leads.filter(pk=business.leads.order_by("pk").last().pk).update(phone="+97212")
    in_call = set(
        OutboundCallJob.objects.filter(business=business, status__in=["dialing", "calling"]).values_list(
            "lead_id", flat=True
        )
    )
    selection = (
        {"filter": {"status": ["new"]}}
        if by == "filter"
        else {"lead_ids": list(business.leads.values_list("pk", flat=True))}
    )
    leads = lead_queryset_from_selection(business=business, selection=selection)

    preview = run_start_preview(business=business, leads=leads)

    do_not_call = business.leads.filter(do_not_call=True).count()
    assert preview["selected"] == 100
    assert preview["do_not_call"] == do_not_call == 4
    assert preview["invalid"] == 1
    assert preview["in_active_call"] == len(in_call) == 3
    assert preview["to_call"] == 100 - 4 - 1 - 3
