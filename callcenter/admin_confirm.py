"""The confirmation page every mass action shows before it starts anything.

The first POST of an action renders this page with the exact count the job will process;
only the second POST, carrying `confirmed=yes`, starts it. Going back (the link, or the
browser's back button) posts nothing, so nothing starts.
"""

from dataclasses import dataclass

from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse

CONFIRM_FIELD = "confirmed"


def is_confirmed(request) -> bool:
    return request.POST.get(CONFIRM_FIELD) == "yes"


@dataclass
class Fact:
    label: str
    value: object
    # A sub-line of the count (e.g. skipped leads): shown indented and tagged for tests.
    key: str = ""


def confirmation_response(
    modeladmin,
    request,
    *,
    action: str,
    title: str,
    question: str,
    count: int,
    count_label: str,
    confirm_label: str,
    facts: list[Fact] | None = None,
    form=None,
    danger: bool = False,
    keep_fields: tuple[str, ...] = (),
) -> TemplateResponse:
    opts = modeladmin.model._meta
    back_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    if request.GET:
        back_url += "?" + request.GET.urlencode()
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": opts,
        "question": question,
        "count": count,
        "count_text": f"{count:,}",
        "count_label": count_label,
        "confirm_label": confirm_label,
        "facts": facts or [],
        "form": form,
        "danger": danger,
        "action": action,
        "select_across": request.POST.get("select_across", "0"),
        "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "kept": [(name, value) for name in keep_fields for value in request.POST.getlist(name)],
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "confirm_field": CONFIRM_FIELD,
        "back_url": back_url,
    }
    return TemplateResponse(request, "admin/callcenter/confirm_action.html", context)
