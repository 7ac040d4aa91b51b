import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leads.phones import InvalidPhone, _common_type_match, phone_normalize

REGIONS = ["IL", "US", "GB", "DE", "FR"]


def reference(text: str, region: str) -> str | None:
    """What phonenumbers alone makes of the text."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def ours(text: str, region: str) -> str | None:
    try:
        return phone_normalize(text, region=region)
    except InvalidPhone:
        return None


digits = st.text(alphabet="0123456789", min_size=1, max_size=13)
separators = st.sampled_from(["", " ", "-", "(", ")", "."])


# Beginnings of real numbers, so that many drawn numbers are valid somewhere.
PLAUSIBLE = ["5", "50", "52", "54", "2", "3", "77", "1800", "415", "212", "20", "7", "30", "6"]


@st.composite
def written_numbers(draw):
    prefix = draw(st.sampled_from(["", "0", "00", "01", "012", "+", "+972", "+9720", "+1", "1", "+44", "+49", "972"]))
    start = draw(st.sampled_from(["", *PLAUSIBLE]))
    body = start + draw(st.text(alphabet="0123456789", min_size=0, max_size=10))
    body = body or draw(digits)
    cut = draw(st.integers(min_value=0, max_value=len(body)))
    return prefix + body[:cut] + draw(separators) + body[cut:]


@settings(max_examples=3000, deadline=None)
@given(text=written_numbers(), region=st.sampled_from(["IL", "US", "GB", "DE", "FR"]))
def test_the_shortcut_agrees_with_phonenumbers(text, region):
    assert ours(text, region) == reference(text, region)


def test_many_valid_numbers_written_many_ways_agree():
    rng = random.Random(1234)
    checked = 0
    while checked < 2000:
        region = rng.choice(["IL", "US", "GB"])
        example = phonenumbers.example_number(region)
        national = str(example.national_number)
        # A number of the same shape with other digits; keep only the valid ones.
        candidate = national[: rng.randint(1, 3)]
        candidate += "".join(rng.choice("0123456789") for _ in range(len(national) - len(candidate)))
        number = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(candidate))
        if not phonenumbers.is_valid_number(number):
            continue
        checked += 1
        for fmt in (phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL):
            text = phonenumbers.format_number(number, fmt)
            assert ours(text, region) == reference(text, region), text
            bare = text.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
            assert ours(bare, region) == reference(bare, region), bare


def test_the_common_forms_skip_the_full_parser(monkeypatch):
    def parse_not_expected(*args, **kwargs):
        raise AssertionError("phonenumbers.parse called")

    monkeypatch.setattr(phonenumbers, "parse", parse_not_expected)
    assert phone_normalize("050-765 4321", region="IL") == "+972507654321"
    assert phone_normalize("+972 50 765 4321", region="IL") == "+972507654321"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("050-765 4321", "+972507654321"),
        ("+972 50 765 4321", "+972507654321"),
        ("(050) 765-4321", "+972507654321"),
        ("972507654321", "+972507654321"),
        ("+972 (0)50 765 4321", "+972507654321"),
        ("03-1234567", "+97231234567"),
        ("+1 (415) 555-2671", "+14155552671"),
    ],
)
def test_common_ways_of_writing_a_number(text, expected):
    assert phone_normalize(text, region="IL") == expected


@pytest.mark.parametrize("text", ["", "   ", "12", "abc", "050-123", "+972 1", "0501234567890123"])
def test_invalid_numbers(text):
    with pytest.raises(InvalidPhone):
        phone_normalize(text, region="IL")


@settings(max_examples=3000, deadline=None)
@given(national=st.text(alphabet="0123456789", min_size=1, max_size=12), region=st.sampled_from(REGIONS))
def test_the_common_type_check_never_calls_an_invalid_number_valid(national, region):
    if national[0] == "0":
        national = "5" + national[1:]
    number = phonenumbers.PhoneNumber(
        country_code=phonenumbers.country_code_for_region(region), national_number=int(national)
    )
    if _common_type_match(national, region):
        assert phonenumbers.is_valid_number_for_region(number, region)


def test_the_common_type_check_finds_the_example_mobile_and_fixed_numbers():
    for region in REGIONS:
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            assert _common_type_match(str(example.national_number), region), (region, kind)


@pytest.mark.django_db
def test_one_validator_gives_the_api_the_admin_and_the_services_the_same_error(api, business):
    from django.utils import translation

    from leads.admin_forms import LeadAdminForm
    from leads.errors import LeadInputInvalid
    from leads.services import lead_create

    with translation.override("en"):
        expected = ["Enter a valid phone number."]
        response = api.post("/api/leads", {"phone": "12"}, format="json", HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 400
        assert response.json()["fields"]["phone"] == expected
        form = LeadAdminForm(data={"business": business.pk, "phone": "12", "status": "new", "custom_fields": "{}"})
        assert not form.is_valid() and form.errors["phone"] == expected
        with pytest.raises(LeadInputInvalid) as raised:
            lead_create(business=business, phone="12")
        assert raised.value.fields == {"phone": expected}
