"""Autofill and overwrite decisions: each mode, conversion and rejection, and quiescence."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubsync.mapping.rules import (
    NO_DEFINITION,
    Mapping,
    MappingDecision,
    MappingOutcome,
    RejectedValue,
    Rule,
    decide,
    prospect_values,
)
from hubsync.mapping.values import PropertyDefinition
from hubsync.storage.defaults import MappingMode

DEFS = {
    d.name: d
    for d in (
        PropertyDefinition("jobtitle", "string"),
        PropertyDefinition("city", "string"),
        PropertyDefinition("numberofemployees", "number"),
        PropertyDefinition(
            "industry",
            "enumeration",
            "select",
            options=("COMPUTER_SOFTWARE", "BANKING"),
            option_labels=("Computer Software", "Banking"),
        ),
        PropertyDefinition("founded", "date", "date"),
        PropertyDefinition("is_public", "bool", "booleancheckbox"),
        PropertyDefinition("hs_email_domain", "string", read_only=True),
    )
}


def m(prop: str, mode: str = "autofill") -> Mapping:
    return Mapping("account", prop, f"pf_{prop}", MappingMode(mode))


def wrote(rule: Rule, before: str | None) -> MappingOutcome:
    """The outcome of writing "CTO" to jobtitle."""
    return MappingOutcome((MappingDecision("jobtitle", "pf_jobtitle", rule, before, "CTO"),))


CASES: list[tuple[str, str, str | None, Any, MappingOutcome]] = [
    # id, mode, current, prospect value, outcome
    ("none-mode", "none", None, "CTO", MappingOutcome()),
    ("autofill-empty", "autofill", None, "CTO", wrote("autofill", None)),
    ("autofill-missing-key", "autofill", "<missing>", "CTO", wrote("autofill", None)),
    ("autofill-empty-string", "autofill", "", "CTO", wrote("autofill", "")),
    ("autofill-whitespace", "autofill", "  ", "CTO", wrote("autofill", "  ")),
    ("autofill-has-value", "autofill", "CEO", "CTO", MappingOutcome()),
    ("autofill-prospect-empty", "autofill", None, "", MappingOutcome()),
    ("autofill-prospect-whitespace", "autofill", None, "   ", MappingOutcome()),
    ("autofill-prospect-none", "autofill", None, None, MappingOutcome()),
    ("overwrite-differs", "overwrite", "CEO", "CTO", wrote("overwrite", "CEO")),
    ("overwrite-empty", "overwrite", None, "CTO", wrote("overwrite", None)),
    ("overwrite-same", "overwrite", "CTO", "CTO", MappingOutcome()),
    ("overwrite-prospect-empty-keeps-hubspot", "overwrite", "CEO", "", MappingOutcome()),
    ("overwrite-case-differs", "overwrite", "cto", "CTO", wrote("overwrite", "cto")),
]


@pytest.mark.parametrize(
    ("mode", "current", "value", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_modes(mode: str, current: str | None, value: Any, expected: MappingOutcome) -> None:
    now = {} if current == "<missing>" else {"jobtitle": current}
    assert decide([m("jobtitle", mode)], now, {"jobtitle": value}, DEFS) == expected


CONVERSIONS: list[tuple[str, str, str | None, Any, str | None, str | None]] = [
    # id, property, current, prospect value, expected after (None: no decision), rejection reason
    ("enum-label-to-value", "industry", None, "Computer Software", "COMPUTER_SOFTWARE", None),
    ("enum-value-case-insensitive", "industry", None, "banking", "BANKING", None),
    (
        "enum-invalid-option",
        "industry",
        None,
        "Underwater Basket Weaving",
        None,
        "not one of the allowed options",
    ),
    ("enum-label-equals-current", "industry", "COMPUTER_SOFTWARE", "Computer Software", None, None),
    ("number-float-integral", "numberofemployees", "200", 250.0, "250", None),
    ("number-decimal-trailing-zeros", "numberofemployees", "200", Decimal("12.50"), "12.5", None),
    ("number-string", "numberofemployees", None, " 1000 ", "1000", None),
    ("number-numerically-equal", "numberofemployees", "250.0", 250, None, None),
    ("number-invalid", "numberofemployees", "200", "lots", None, "not a number"),
    ("number-bool-rejected", "numberofemployees", "200", True, None, "expected a number, got a bool"),
    ("date-iso", "founded", None, "2001-02-03", "2001-02-03", None),
    ("date-invalid", "founded", None, "2001-02-30", None, "not a YYYY-MM-DD date"),
    ("bool-word", "is_public", "false", "yes", "true", None),
    ("bool-same-meaning", "is_public", "true", "Yes", None, None),
    ("read-only", "hs_email_domain", None, "acme.com", None, "property is read-only in HubSpot"),
    ("missing-definition", "not_cached", None, "x", None, NO_DEFINITION),
    ("unsupported-type", "jobtitle", None, {"nested": 1}, None, "unsupported value type dict"),
    ("string-from-number", "jobtitle", None, 42, "42", None),
]


@pytest.mark.parametrize(
    ("prop", "current", "value", "after", "reason"),
    [c[1:] for c in CONVERSIONS],
    ids=[c[0] for c in CONVERSIONS],
)
def test_conversion_and_rejection(
    prop: str, current: str | None, value: Any, after: str | None, reason: str | None
) -> None:
    outcome = decide([m(prop, "overwrite")], {prop: current}, {prop: value}, DEFS)
    if after is None:
        assert outcome.decisions == ()
    else:
        assert outcome.decisions == (MappingDecision(prop, f"pf_{prop}", "overwrite", current, after),)
    if reason is None:
        assert outcome.rejected == ()
    else:
        (rejected,) = outcome.rejected
        assert rejected.hubspot_property == prop and rejected.rule == "overwrite"
        assert reason in rejected.reason
        assert rejected.value == (value if isinstance(value, str) else repr(value))


def test_rejection_only_where_the_rule_would_write() -> None:
    """A read-only or uncached property is not reported when autofill would not write anyway."""
    current = {"hs_email_domain": "acme.com", "not_cached": "x"}
    prospect = {"hs_email_domain": "other.com", "not_cached": "y"}
    assert decide([m("hs_email_domain"), m("not_cached")], current, prospect, DEFS) == MappingOutcome()


def test_autofill_rejection_is_reported_with_its_rule() -> None:
    outcome = decide([m("industry")], {}, {"industry": "Nope"}, DEFS)
    assert outcome.decisions == ()
    assert [(r.hubspot_property, r.rule) for r in outcome.rejected] == [("industry", "autofill")]


def test_no_prospect_decides_nothing() -> None:
    mappings = [m("jobtitle", "overwrite"), m("city"), m("not_cached", "overwrite")]
    assert decide(mappings, {}, None, DEFS) == MappingOutcome()
    assert not decide(mappings, {}, None, DEFS)


def test_output_is_ordered_by_property_and_long_values_are_shortened() -> None:
    mappings = [m("numberofemployees", "overwrite"), m("jobtitle"), m("industry"), m("city"), m("zz_missing")]
    prospect = {
        "numberofemployees": 10,
        "jobtitle": "CTO",
        "industry": "x" * 500,
        "city": "Lyon",
        "zz_missing": "v",
    }
    outcome = decide(mappings, {}, prospect, DEFS)
    assert [d.hubspot_property for d in outcome.decisions] == ["city", "jobtitle", "numberofemployees"]
    assert [r.hubspot_property for r in outcome.rejected] == ["industry", "zz_missing"]
    assert len(outcome.rejected[0].value) == 100
    assert outcome.changed_fields() == {"city": "Lyon", "jobtitle": "CTO", "numberofemployees": "10"}


def test_rejected_value_is_a_value_object() -> None:
    assert RejectedValue("a", "autofill", "v", "r") == RejectedValue("a", "autofill", "v", "r")


# ---- loop safety -------------------------------------------------------------------------------


def echo(
    current: dict[str, str | None], outcome: MappingOutcome, hubspot_form: dict[str, str]
) -> dict[str, str | None]:
    """HubSpot after the push, as the next pull sees it: the written values, in HubSpot's own
    spelling where it normalizes one (``hubspot_form``)."""
    after = dict(current)
    for decision in outcome.decisions:
        after[decision.hubspot_property] = hubspot_form.get(decision.after, decision.after)
    return after


def test_the_system_quiesces_after_one_round() -> None:
    mappings = [
        m("jobtitle"),
        m("city", "overwrite"),
        m("industry"),
        m("numberofemployees", "overwrite"),
        m("is_public", "overwrite"),
        m("founded", "none"),
    ]
    prospect = {
        "jobtitle": "CTO",
        "city": "Lyon",
        "industry": "Computer Software",
        "numberofemployees": 250.0,
        "is_public": "yes",
        "founded": "2001-02-03",
    }
    current: dict[str, str | None] = {
        "jobtitle": "",
        "city": "Paris",
        "numberofemployees": "12",
        "is_public": "false",
    }
    first = decide(mappings, current, prospect, DEFS)
    assert {d.hubspot_property for d in first.decisions} == {
        "jobtitle",
        "city",
        "industry",
        "numberofemployees",
        "is_public",
    }
    # the change comes back from HubSpot (numbers echoed as "250.0"): nothing more to write
    pulled_back = echo(current, first, {"250": "250.0"})
    assert decide(mappings, pulled_back, prospect, DEFS) == MappingOutcome()


_VALUES = st.one_of(
    st.none(),
    st.text(max_size=6),
    st.integers(-1000, 1000),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.booleans(),
    st.sampled_from(["Computer Software", "BANKING", "2001-02-03", "yes", " 12.0 ", "nope"]),
)


@given(
    modes=st.dictionaries(st.sampled_from([*sorted(DEFS), "not_cached"]), st.sampled_from(list(MappingMode))),
    current=st.dictionaries(st.sampled_from(sorted(DEFS)), st.one_of(st.none(), st.text(max_size=6))),
    prospect=st.dictionaries(st.sampled_from([*sorted(DEFS), "not_cached"]), _VALUES),
)
def test_quiescence_for_any_values(
    modes: dict[str, MappingMode], current: dict[str, str | None], prospect: dict[str, Any]
) -> None:
    """Whatever the mappings and values, pushing the decisions and pulling them back decides
    nothing new, and rejections stay the same (they are logged, never pushed)."""
    mappings = [Mapping("account", p, p, mode) for p, mode in modes.items()]
    first = decide(mappings, current, prospect, DEFS)
    second = decide(mappings, echo(current, first, {}), prospect, DEFS)
    assert second.decisions == ()
    assert {r.hubspot_property for r in second.rejected} <= {r.hubspot_property for r in first.rejected}


# ---- prospect rows -----------------------------------------------------------------------------


def test_prospect_values_of_a_person() -> None:
    row = {
        "id": 7,
        "email_normalized": "jane@acme.com",
        "first_name": "Jane",
        "last_name": None,
        "attributes": {"jobtitle": "CTO", "lastname": "Doe", "firstname": "Old"},
        "in_crm": False,
    }
    assert prospect_values("people", row) == {
        "jobtitle": "CTO",
        "firstname": "Jane",
        "lastname": "Doe",
        "email": "jane@acme.com",
    }


def test_prospect_values_of_an_organization() -> None:
    row = {
        "name": "Acme",
        "domain": "acme.com",
        "domain_root": "acme.com",
        "attributes": {"industry": "BANKING"},
    }
    assert prospect_values("organizations", row) == {
        "industry": "BANKING",
        "name": "Acme",
        "domain": "acme.com",
    }
    assert prospect_values("organizations", {"name": "Acme", "domain": None, "attributes": None}) == {
        "name": "Acme"
    }
