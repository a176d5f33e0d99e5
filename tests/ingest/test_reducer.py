"""The pure ingest reducer (:mod:`hubsync.ingest.reducer`): one HubSpot change applied to one record,
and the ordering rules of its docstring (property versions, status times, merge, privacy deletion)."""

from __future__ import annotations

import copy
import io
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubsync.ingest.events import ChangeEvent, Merge
from hubsync.ingest.reducer import apply_event, apply_merged_away
from hubsync.records.state import DELETED, MERGED_IN_CRM, SYNCED, RecordState, platform_version
from tests.ingest import events_factory as f

CONTACT = {"email": "ann@acme.com", "firstname": "Ann", "lastname": "Lee", "company": "Acme"}


def apply_all(events: Iterable[ChangeEvent], state: RecordState | None = None) -> RecordState:
    """Fold events for one record the way :mod:`hubsync.ingest.apply` does (merges: the away side).

    The record is the object of the first event that is not a merge (or ``state``'s)."""
    events = list(events)
    record_id = (
        state.hubspot_id if state is not None else next(e.object_id for e in events if e.merge is None)
    )
    for event in events:
        if event.merge is not None:
            if record_id in event.merge.away:
                state, _ = apply_merged_away(state, record_id, event.merge.survivor, event)
            continue
        state, _ = apply_event(state, event)
    assert state is not None
    return state


def actions(applied_activities: Sequence[Any]) -> list[str]:
    return [a.action for a in applied_activities]


# ---- the factory's values are valid HubSpotChangeEvent values -----------------------------------------


ALL_KINDS = [
    f.snapshot("1", CONTACT, at=1_000, companies=["10"], property_timestamps={"email": 900}),
    f.company_snapshot("10", {"domain": "acme.com", "name": "Acme"}, at=1_000),
    f.creation("1", CONTACT, at=1_000),
    f.property_change("1", "firstname", "Anne", at=2_000),
    f.deletion("1", at=3_000),
    f.restore("1", at=4_000),
    f.merge("1", ["2", "3"], at=5_000, new_id="4"),
    f.association("1", "10", at=6_000, removed=True, is_primary=True),
    f.association("1", "10", at=6_000, from_company=True),
    f.privacy_deletion("1", at=7_000),
]


@pytest.mark.parametrize("value", ALL_KINDS, ids=lambda v: v["event_id"])
def test_factory_values_round_trip_through_the_avro_schema(value: dict[str, Any]) -> None:
    parsed = fastavro.parse_schema(f.schema())
    assert fastavro.validation.validate(value, parsed, raise_errors=True)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, value)
    buf.seek(0)
    decoded = fastavro.schemaless_reader(buf, parsed, parsed)
    assert isinstance(decoded["occurred_at"], datetime)  # timestamp-millis decodes to aware datetimes
    assert f.ce(decoded) == f.ce(value)


def test_change_event_times_and_version() -> None:
    webhook = f.ce(f.property_change("7", "phone", "1", at=1_234))
    assert (webhook.version, webhook.occurred_at, webhook.kind) == (1_234, 1_234, "contact")
    assert webhook.property_version("phone") == 1_234
    snap = f.ce(f.snapshot("7", {"phone": "1", "city": "x"}, at=5_000, property_timestamps={"phone": 4_000}))
    assert snap.version == 5_000
    assert snap.property_version("phone") == 4_000
    assert snap.property_version("city") == 5_000
    aware = dict(f.snapshot("7", {}, at=0))
    aware["occurred_at"] = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    aware["updated_at"] = None
    assert f.ce(aware).version == 1_767_323_045_678


def test_merge_info_survivor_and_away_ids() -> None:
    plain = f.ce(f.merge("1", ["2", "3"], at=1))
    assert plain.merge == Merge(survivor="1", away=("2", "3"))
    renumbered = f.ce(f.merge("1", ["2"], at=1, new_id="9"))
    assert renumbered.merge == Merge(survivor="9", away=("1", "2"))


def test_association_is_oriented_contact_to_company_whichever_end_sent_it() -> None:
    a = f.ce(f.association("1", "10", at=1, removed=True))
    b = f.ce(f.association("1", "10", at=1, removed=True, from_company=True))
    assert a.association == b.association
    assert a.association is not None
    assert (a.association.contact_id, a.association.company_id, a.association.removed) == ("1", "10", True)
    same_kind = f.base(
        "1",
        "ASSOCIATION_CHANGE",
        at=1,
        association={
            "from_object_type": "CONTACT",
            "from_object_id": "1",
            "to_object_type": "CONTACT",
            "to_object_id": "2",
            "removed": False,
            "is_primary": False,
        },
    )
    assert f.ce(same_kind).association is None


# ---- creation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "expected"), [("POLLER", "hubspot"), ("MANUAL_PULL", "manual_pull")])
def test_first_snapshot_creates_a_synced_record(source: str, expected: str) -> None:
    event = f.ce(f.snapshot("1", {**CONTACT, "phone": ""}, at=1_000, source=source))
    state, applied = apply_event(None, event)
    assert applied.created and applied.mapping_eligible
    assert state.creation_source == expected
    assert state.crm_status == SYNCED
    assert state.properties == {**CONTACT, "phone": None}  # "" is no value
    assert state.versions == dict.fromkeys([*CONTACT, "phone"], 1_000)
    assert state.hubspot_updated_at == 1_000
    [activity] = applied.activities
    assert activity.action == "created_from_hubspot"
    assert activity.cause_event == event.event_id
    assert activity.rule == "mirror"
    assert activity.after == {**CONTACT, "phone": None}


def test_creation_webhook_creates_too() -> None:
    state, applied = apply_event(None, f.ce(f.creation("1", CONTACT, at=1_000)))
    assert actions(applied.activities) == ["created_from_hubspot"]
    assert state.properties == CONTACT


# ---- property versions ----------------------------------------------------------------------------


def test_newer_property_change_applies_with_an_updated_activity() -> None:
    state, _ = apply_event(None, f.ce(f.snapshot("1", CONTACT, at=1_000)))
    change = f.ce(f.property_change("1", "firstname", "Anne", at=2_000))
    state, applied = apply_event(state, change)
    assert state.properties["firstname"] == "Anne"
    assert state.versions["firstname"] == 2_000
    assert applied.changed == {"firstname": ("Ann", "Anne")}
    [activity] = applied.activities
    assert (activity.action, activity.field, activity.before, activity.after, activity.rule) == (
        "updated",
        "firstname",
        "Ann",
        "Anne",
        "mirror",
    )
    assert activity.cause_event == change.event_id


def test_older_property_change_is_ignored() -> None:
    state, _ = apply_event(None, f.ce(f.snapshot("1", CONTACT, at=2_000)))
    state, applied = apply_event(state, f.ce(f.property_change("1", "firstname", "Old", at=1_500)))
    assert state.properties["firstname"] == "Ann"
    assert state.versions["firstname"] == 2_000
    assert applied.activities == [] and applied.changed == {}
    assert not applied.mapping_eligible


def test_same_change_twice_changes_nothing_the_second_time() -> None:
    state, _ = apply_event(None, f.ce(f.snapshot("1", CONTACT, at=1_000)))
    change = f.ce(f.property_change("1", "firstname", "Anne", at=2_000))
    state, first = apply_event(state, change)
    state, second = apply_event(state, change)
    assert actions(first.activities) == ["updated"]
    assert second.activities == [] and second.changed == {}
    assert state.properties["firstname"] == "Anne"


def test_property_timestamps_order_each_property_on_its_own() -> None:
    # a later snapshot whose firstname was last changed before the webhook's change
    change = f.ce(f.property_change("1", "firstname", "Anne", at=1_500))
    snap = f.ce(f.snapshot("1", CONTACT, at=2_000, property_timestamps={"firstname": 1_000}))
    for order in ([change, snap], [snap, change]):
        state = apply_all(order)
        assert state.properties["firstname"] == "Anne"
        assert state.properties["lastname"] == "Lee"
        assert state.versions["firstname"] == 1_500


@pytest.mark.parametrize("values", [("a", "b"), ("b", "a"), (None, "a"), ("a", None)])
def test_same_time_the_larger_value_wins_whatever_the_order(values: tuple[str | None, str | None]) -> None:
    one, two = (f.ce(f.property_change("1", "city", v, at=1_000) | {"event_id": f"e{v}"}) for v in values)
    forward = apply_all([one, two])
    backward = apply_all([two, one])
    assert forward.properties == backward.properties
    assert forward.properties["city"] == max((v for v in values if v is not None), default=None)


def test_platform_value_beats_an_older_hubspot_value_and_logs_the_loser() -> None:
    state, _ = apply_event(None, f.ce(f.snapshot("1", CONTACT, at=1_000)))
    state.properties["jobtitle"] = "CTO"
    state.versions["jobtitle"] = {"at": 5_000, "rule": "autofill"}
    state, applied = apply_event(state, f.ce(f.property_change("1", "jobtitle", "Intern", at=4_000)))
    assert state.properties["jobtitle"] == "CTO"
    assert [(a.action, a.field, a.after) for a in applied.activities] == [
        ("conflict_lost", "jobtitle", "Intern")
    ]


def test_later_hubspot_value_beats_a_platform_value_and_logs_the_loser() -> None:
    state, _ = apply_event(None, f.ce(f.snapshot("1", CONTACT, at=1_000)))
    state.properties["jobtitle"] = "CTO"
    state.versions["jobtitle"] = {"at": 5_000, "rule": "autofill"}
    state, applied = apply_event(state, f.ce(f.property_change("1", "jobtitle", "CEO", at=6_000)))
    assert state.properties["jobtitle"] == "CEO"
    assert state.versions["jobtitle"] == 6_000
    lost = [a for a in applied.activities if a.action == "conflict_lost"]
    assert [(a.field, a.after, a.rule) for a in lost] == [("jobtitle", "CTO", "autofill")]
    assert "updated" in actions(applied.activities)


def test_a_snapshot_still_holding_the_value_the_platform_replaced_does_not_undo_the_platform_edit() -> None:
    """The platform changed ``lastname`` at 5,000; before its push reaches HubSpot, a person edits
    ``firstname`` there. The poller's snapshot (no per-property times) carries the record's
    ``updatedAt`` 6,000 and the old ``lastname``: that is not a later change of ``lastname``, and
    the platform's value stays (found by the fault suite with a Kafka broker down, which delays
    the push)."""
    state, _ = apply_event(None, f.ce(f.snapshot("1", CONTACT, at=1_000)))
    state.properties["lastname"] = "Platt"
    state.versions["lastname"] = platform_version(5_000, "platform", state.versions["lastname"], "Lee")
    state, applied = apply_event(state, f.ce(f.snapshot("1", {**CONTACT, "firstname": "Anne"}, at=6_000)))
    assert (state.properties["firstname"], state.properties["lastname"]) == ("Anne", "Platt")
    assert "conflict_lost" not in actions(applied.activities)
    # a second platform edit before either push landed: the echo of the first is not a change either
    state.properties["lastname"] = "Platz"
    state.versions["lastname"] = platform_version(7_000, "platform", state.versions["lastname"], "Platt")
    for held in ("Lee", "Platt"):
        state, _ = apply_event(state, f.ce(f.snapshot("1", {**CONTACT, "lastname": held}, at=8_000)))
        assert state.properties["lastname"] == "Platz"
    # the push of the last value lands: its echo confirms it, HubSpot's version replaces the platform's
    state, applied = apply_event(state, f.ce(f.snapshot("1", {**CONTACT, "lastname": "Platz"}, at=9_000)))
    assert state.versions["lastname"] == 9_000 and applied.changed == {}
    # from then on an old value is a change again
    state, _ = apply_event(state, f.ce(f.snapshot("1", {**CONTACT, "lastname": "Lee"}, at=10_000)))
    assert state.properties["lastname"] == "Lee"


def test_a_value_hubspot_changed_after_the_platform_edit_wins_even_if_the_platform_replaced_it_before() -> (
    None
):
    """With HubSpot's own time for the property (a propertyChange webhook, property history), a
    later change wins whatever the value; so does a snapshot holding a value the platform never saw."""
    state, _ = apply_event(None, f.ce(f.snapshot("1", CONTACT, at=1_000)))
    state.properties["lastname"] = "Platt"
    state.versions["lastname"] = platform_version(5_000, "platform", state.versions["lastname"], "Lee")
    changed, _ = apply_event(state, f.ce(f.property_change("1", "lastname", "Lee", at=6_000)))
    assert changed.properties["lastname"] == "Lee"
    state.properties["lastname"] = "Platt"
    state.versions["lastname"] = platform_version(5_000, "platform", 1_000, "Lee")
    state, _ = apply_event(state, f.ce(f.snapshot("1", {**CONTACT, "lastname": "Other"}, at=6_000)))
    assert state.properties["lastname"] == "Other"


def test_the_late_echo_of_a_push_planned_before_the_platform_edit_does_not_undo_the_edit() -> None:
    """The platform created the record with ``lastname`` "Pl" and changed it to "Pe" at 5,000; the
    create's push, planned before the edit and held up by 5xx retries, landed at 6,000. Its
    propertyChange webhook (an app's write, HubSpot's own time) is not a later change: the edit's
    own push follows (found by the fault suite under 10% 5xx). A person's edit to the same value
    still wins."""
    state, _ = apply_event(None, f.ce(f.snapshot("1", CONTACT, at=1_000)))
    state.properties["lastname"] = "Pl"
    state.versions["lastname"] = platform_version(2_000, "platform", state.versions["lastname"], "Lee")
    state.properties["lastname"] = "Pe"
    state.versions["lastname"] = platform_version(5_000, "platform", state.versions["lastname"], "Pl")
    echo = f.property_change("1", "lastname", "Pl", at=6_000, change_source="INTEGRATION", source_id="7")
    state, applied = apply_event(state, f.ce(echo))
    assert state.properties["lastname"] == "Pe" and applied.changed == {} and applied.activities == []
    person = f.property_change("1", "lastname", "Pl", at=6_500, change_source="CRM_UI")
    changed, _ = apply_event(copy.deepcopy(state), f.ce(person))
    assert changed.properties["lastname"] == "Pl"
    # the edit's push lands: its echo confirms it
    state, applied = apply_event(
        state, f.ce(f.property_change("1", "lastname", "Pe", at=7_000, change_source="INTEGRATION"))
    )
    assert state.versions["lastname"] == 7_000 and applied.changed == {}


def test_echo_of_a_platform_value_changes_nothing() -> None:
    state, _ = apply_event(None, f.ce(f.snapshot("1", CONTACT, at=1_000)))
    state.properties["jobtitle"] = "CTO"
    state.versions["jobtitle"] = {"at": 5_000, "rule": "autofill"}
    state, applied = apply_event(state, f.ce(f.property_change("1", "jobtitle", "CTO", at=6_000)))
    assert applied.activities == [] and applied.changed == {}
    assert not applied.mapping_eligible
    assert state.versions["jobtitle"] == 6_000


# ---- deletion and restore -------------------------------------------------------------------------


def test_deletion_marks_deleted_and_restore_resumes() -> None:
    state, _ = apply_event(None, f.ce(f.snapshot("1", CONTACT, at=1_000)))
    deleted = f.ce(f.deletion("1", at=2_000))
    state, applied = apply_event(state, deleted)
    assert state.crm_status == DELETED
    assert state.properties == CONTACT  # kept
    [activity] = applied.activities
    assert (activity.action, activity.before, activity.after, activity.cause_event) == (
        "deleted_in_crm",
        SYNCED,
        DELETED,
        deleted.event_id,
    )
    state, applied = apply_event(state, f.ce(f.restore("1", at=3_000)))
    assert state.crm_status == SYNCED
    assert actions(applied.activities) == ["restored_in_crm"]


def test_restore_older_than_the_deletion_is_ignored_in_either_order() -> None:
    snap = f.ce(f.snapshot("1", CONTACT, at=1_000))
    deleted = f.ce(f.deletion("1", at=3_000))
    restored = f.ce(f.restore("1", at=2_000))
    assert apply_all([snap, deleted, restored]).crm_status == DELETED
    assert apply_all([snap, restored, deleted]).crm_status == DELETED
    state = apply_all([snap, deleted])
    _, applied = apply_event(state, restored)
    assert applied.activities == []


def test_deletion_beats_a_restore_at_the_same_time() -> None:
    snap = f.ce(f.snapshot("1", CONTACT, at=1_000))
    deleted = f.ce(f.deletion("1", at=2_000))
    restored = f.ce(f.restore("1", at=2_000))
    assert apply_all([snap, deleted, restored]).crm_status == DELETED
    assert apply_all([snap, restored, deleted]).crm_status == DELETED


def test_archived_snapshot_counts_as_a_deletion() -> None:
    state = apply_all([f.ce(f.snapshot("1", CONTACT, at=1_000, archived=True))])
    assert state.crm_status == DELETED


def test_deletion_of_an_unknown_id_leaves_a_deleted_placeholder() -> None:
    state, applied = apply_event(None, f.ce(f.deletion("1", at=2_000)))
    assert state.crm_status == DELETED
    assert actions(applied.activities) == ["created_from_hubspot", "deleted_in_crm"]
    state = apply_all([f.ce(f.snapshot("1", CONTACT, at=1_000))], state)
    assert state.properties == CONTACT
    assert state.crm_status == DELETED


# ---- merge ----------------------------------------------------------------------------------------


def test_merged_away_record_keeps_its_data_and_names_the_survivor() -> None:
    state, _ = apply_event(None, f.ce(f.snapshot("2", CONTACT, at=1_000)))
    event = f.ce(f.merge("1", ["2"], at=2_000))
    state, acts = apply_merged_away(state, "2", "1", event)
    assert state.crm_status == MERGED_IN_CRM
    assert state.merged_into_hubspot_id == "1"
    assert state.properties == CONTACT
    assert [(a.action, a.after, a.cause_event) for a in acts] == [("merged_in_crm", "1", event.event_id)]


def test_changes_after_the_merge_are_ignored_older_ones_apply() -> None:
    state = apply_all([f.ce(f.snapshot("2", CONTACT, at=1_000)), f.ce(f.merge("1", ["2"], at=2_000))])
    state, applied = apply_event(state, f.ce(f.property_change("2", "firstname", "Late", at=3_000)))
    assert state.properties["firstname"] == "Ann" and applied.activities == []
    state, applied = apply_event(state, f.ce(f.property_change("2", "lastname", "Early", at=1_500)))
    assert state.properties["lastname"] == "Early"
    # merged is terminal: neither a deletion nor a restore moves it
    state = apply_all([f.ce(f.deletion("2", at=1_800)), f.ce(f.restore("2", at=1_900))], state)
    assert state.crm_status == MERGED_IN_CRM


def test_merge_of_an_unknown_id_leaves_a_merged_placeholder_filled_by_older_snapshots() -> None:
    state, acts = apply_merged_away(None, "2", "1", f.ce(f.merge("1", ["2"], at=2_000)))
    assert actions(acts) == ["created_from_hubspot", "merged_in_crm"]
    state = apply_all([f.ce(f.snapshot("2", CONTACT, at=1_000))], state)
    assert state.properties == CONTACT
    assert state.crm_status == MERGED_IN_CRM


# ---- privacy deletion -----------------------------------------------------------------------------


def test_privacy_deletion_erases_for_good() -> None:
    state, _ = apply_event(None, f.ce(f.snapshot("1", CONTACT, at=1_000)))
    gdpr = f.ce(f.privacy_deletion("1", at=2_000))
    state, applied = apply_event(state, gdpr)
    assert state.erased and state.erased_now
    assert state.properties == {} and state.versions == {}
    assert [(a.action, a.cause_event) for a in applied.activities] == [("privacy_deleted", gdpr.event_id)]
    for later in (
        f.snapshot("1", CONTACT, at=9_000),
        f.property_change("1", "email", "new@acme.com", at=9_500),
        f.restore("1", at=9_600),
    ):
        state, applied = apply_event(state, f.ce(later))
        assert applied.activities == [] and applied.changed == {}
        assert state.properties == {}
    state, acts = apply_merged_away(state, "1", "5", f.ce(f.merge("5", ["1"], at=9_700)))
    assert acts == [] and state.merged_into_hubspot_id is None


def test_privacy_deletion_first_keeps_an_erased_placeholder() -> None:
    state, applied = apply_event(None, f.ce(f.privacy_deletion("1", at=2_000)))
    assert state.erased
    assert actions(applied.activities) == ["created_from_hubspot", "privacy_deleted"]
    state = apply_all([f.ce(f.snapshot("1", CONTACT, at=1_000))], state)
    assert state.properties == {}


# ---- order independence ---------------------------------------------------------------------------

HISTORY = [
    f.ce(f.snapshot("1", CONTACT, at=1_000)),
    f.ce(f.property_change("1", "firstname", "Anne", at=1_100)),
    f.ce(f.property_change("1", "lastname", "Li", at=1_200)),
    f.ce(f.property_change("1", "firstname", "Annie", at=1_300)),
    f.ce(
        f.snapshot(
            "1",
            {**CONTACT, "firstname": "Annie", "lastname": "Li"},
            at=1_350,
            property_timestamps={"email": 1_000, "company": 1_000, "firstname": 1_300, "lastname": 1_200},
        )
    ),
    f.ce(f.property_change("1", "phone", "+44 1", at=1_400)),
    f.ce(f.deletion("1", at=1_500)),
    f.ce(f.restore("1", at=1_600)),
    f.ce(f.deletion("1", at=1_700)),
    f.ce(f.property_change("1", "phone", None, at=1_450)),
]


@settings(max_examples=200, deadline=None)
@given(st.randoms(use_true_random=False), st.lists(st.integers(0, len(HISTORY) - 1), max_size=6))
def test_any_order_with_redeliveries_gives_the_same_record(rnd: random.Random, repeats: list[int]) -> None:
    expected = apply_all(HISTORY)
    assert expected.properties == {**CONTACT, "firstname": "Annie", "lastname": "Li", "phone": None}
    assert expected.crm_status == DELETED
    events = [*HISTORY, *(HISTORY[i] for i in repeats)]
    rnd.shuffle(events)
    got = apply_all(events)
    assert got.properties == expected.properties
    assert got.versions == expected.versions
    assert got.crm_status == expected.crm_status
    assert got.crm_status_at == expected.crm_status_at
    assert got.hubspot_updated_at == expected.hubspot_updated_at


@settings(max_examples=100, deadline=None)
@given(st.randoms(use_true_random=False))
def test_any_order_of_a_merged_away_record_history_gives_the_same_record(rnd: random.Random) -> None:
    history = [
        f.ce(f.snapshot("2", CONTACT, at=1_000)),
        f.ce(f.property_change("2", "firstname", "Anne", at=1_100)),
        f.ce(f.merge("1", ["2"], at=2_000)),
        f.ce(f.property_change("2", "lastname", "Li", at=1_900)),
    ]
    expected = apply_all(history)
    events = list(history)
    rnd.shuffle(events)
    got = apply_all(events)
    assert (got.properties, got.crm_status, got.merged_into_hubspot_id) == (
        expected.properties,
        MERGED_IN_CRM,
        "1",
    )
    assert got.properties == {**CONTACT, "firstname": "Anne", "lastname": "Li"}


def test_deletion_after_the_merge_leaves_the_same_status_whatever_the_arrival_order() -> None:
    """A merged-away id deleted afterwards (HubSpot archives merged-away records): merged is terminal,
    so the record must end merged into the survivor whether the deletion arrives first or last."""
    snap = f.ce(f.snapshot("2", CONTACT, at=1_000))
    merged = f.ce(f.merge("1", ["2"], at=2_000))
    deleted = f.ce(f.deletion("2", at=2_500))
    merge_first = apply_all([snap, merged, deleted])
    delete_first = apply_all([snap, deleted, merged])
    assert (merge_first.crm_status, merge_first.merged_into_hubspot_id) == (MERGED_IN_CRM, "1")
    assert (delete_first.crm_status, delete_first.merged_into_hubspot_id) == (MERGED_IN_CRM, "1")
