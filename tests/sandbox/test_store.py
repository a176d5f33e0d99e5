"""CrmStore: writes, events, uniqueness, history, archive/restore, merge, GDPR delete, associations, load."""

from __future__ import annotations

import pytest

from hubsync.hubspot_model.properties import Property
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.errors import HubSpotApiError
from hubsync.sandbox.events import ListSink, NullSink, Writer
from hubsync.sandbox.properties import PropertyRegistry
from hubsync.sandbox.records import Layouts, make_record
from hubsync.sandbox.store import CrmStore
from hubsync.sandbox.timefmt import iso_ms
from tests.sandbox.live import Clock

API = Writer("INTEGRATION", "1160452")
UI = Writer("CRM_UI", "userId:42")


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def store(sink: ListSink) -> CrmStore:
    clock = Clock()
    return CrmStore(SandboxConfig(), PropertyRegistry(clock), sink, clock)


def test_create_and_update_emit_events_with_writer(store: CrmStore, sink: ListSink) -> None:
    record = store.create("contact", {"email": "A@Example.com", "firstname": "Ann"}, API)
    assert [(e.kind, e.property_name) for e in sink.events] == [
        ("creation", None),
        ("propertyChange", "email"),
        ("propertyChange", "firstname"),
    ]
    sink.events.clear()
    before = record.updated_ms
    store.update("contact", record.id, {"firstname": "Anne", "lastname": "Lee", "email": "a@example.com"}, UI)
    assert sorted((e.property_name, e.property_value) for e in sink.events) == [
        ("firstname", "Anne"),
        ("lastname", "Lee"),
    ]
    assert all(e.writer == UI for e in sink.events) and record.updated_ms > before
    sink.events.clear()
    store.update("contact", record.id, {"firstname": "Anne"}, UI)
    assert sink.events == [] and store.value_of("contact", record, "lastmodifieddate")


def test_history_only_for_changed_properties(store: CrmStore) -> None:
    record = store.create("contact", {"email": "h@example.com", "firstname": "One"}, API)
    assert [h[0] for h in store.history_of("contact", record, "firstname")] == ["One"]
    store.update("contact", record.id, {"firstname": "Two"}, UI)
    store.update("contact", record.id, {"firstname": None}, UI)
    history = store.history_of("contact", record, "firstname")
    assert [(v, w.change_source) for v, _, w in history] == [
        ("", "CRM_UI"),
        ("Two", "CRM_UI"),
        ("One", "INTEGRATION"),
    ]
    assert list(store.table("contact").history) == [record.id]


def test_email_unique_case_insensitive_and_freed_by_archive(store: CrmStore) -> None:
    first = store.create("contact", {"email": "u@example.com"}, API)
    with pytest.raises(HubSpotApiError) as error:
        store.create("contact", {"email": "U@EXAMPLE.COM"}, API)
    assert (
        error.value.status == 409
        and error.value.message == f"Contact already exists. Existing ID: {first.id}"
    )
    store.archive("contact", first.id, API)
    second = store.create("contact", {"email": "u@example.com"}, API)
    with pytest.raises(HubSpotApiError) as error:
        store.restore("contact", first.id, API)
    assert error.value.status == 409
    store.archive("contact", second.id, API)
    restored = store.restore("contact", first.id, API)
    assert not restored.archived and store.get("contact", "u@example.com", id_property="email").id == first.id


def test_unique_custom_property_created_after_records(store: CrmStore) -> None:
    a = store.create("company", {"name": "A"}, API)
    store.registry.create(
        "company", Property("ext_id", "Ext", "string", "text", "companyinformation", has_unique_value=True)
    )
    store.update("company", a.id, {"ext_id": "x1"}, API)
    with pytest.raises(HubSpotApiError) as error:
        store.create("company", {"name": "B", "ext_id": "x1"}, API)
    assert error.value.status == 409
    assert store.get("company", "x1", id_property="ext_id").id == a.id
    with pytest.raises(HubSpotApiError) as error:
        store.get("company", "A", id_property="name")
    assert error.value.status == 400


def test_merge_semantics(store: CrmStore, sink: ListSink) -> None:
    a = store.create("contact", {"email": "a@example.com", "firstname": "A"}, API)
    b = store.create("contact", {"email": "b@example.com", "firstname": "B", "jobtitle": "CTO"}, API)
    c = store.create("contact", {"email": "c@example.com"}, API)
    company = store.create("company", {"name": "Co"}, API)
    store.associate(b.id, company.id, API, primary=True)
    sink.events.clear()
    merged = store.merge("contact", a.id, b.id, UI)
    assert merged.id == a.id
    values = store.properties_of("contact", merged)
    assert values["firstname"] == "A" and values["jobtitle"] == "CTO"
    assert values["hs_merged_object_ids"] == str(b.id) and values["hs_additional_emails"] == "b@example.com"
    assert store.get("contact", str(b.id)).id == a.id
    assert store.get("contact", "b@example.com", id_property="email").id == a.id
    assert store.associations("contact", a.id) == [company.id]
    merge_events = [e for e in sink.events if e.kind == "merge"]
    assert [
        (e.object_id, e.primary_object_id, e.merged_object_ids, e.new_object_id) for e in merge_events
    ] == [(a.id, a.id, (b.id,), a.id)]
    assert merge_events[0].writer == UI
    store.merge("contact", a.id, c.id, UI)
    assert store.value_of("contact", merged, "hs_merged_object_ids") == f"{b.id};{c.id}"
    for primary, other in ((a.id, b.id), (b.id, a.id), (a.id, a.id)):
        with pytest.raises(HubSpotApiError) as error:
            store.merge("contact", primary, other, UI)
        assert error.value.status == 400
    d = store.create("contact", {"email": "d@example.com"}, API)
    store.archive("contact", d.id, API)
    with pytest.raises(HubSpotApiError) as error:
        store.merge("contact", a.id, d.id, UI)
    assert error.value.status == 400
    with pytest.raises(HubSpotApiError) as error:
        store.merge("contact", a.id, 999, UI)
    assert error.value.status == 404


def test_gdpr_delete_erases(store: CrmStore, sink: ListSink) -> None:
    c = store.create("contact", {"email": "g@example.com"}, API)
    company = store.create("company", {"name": "Co"}, API)
    store.associate(c.id, company.id, API)
    sink.events.clear()
    store.gdpr_delete(c.id, API)
    assert [e.kind for e in sink.events] == ["privacyDeletion", "deletion"]
    assert store.find("contact", c.id) is None and store.associations("company", company.id) == []
    store.create("contact", {"email": "g@example.com"}, API)


def test_associations_primary_is_unique_and_events_per_side(store: CrmStore, sink: ListSink) -> None:
    c = store.create("contact", {"email": "x@example.com"}, API)
    one = store.create("company", {"name": "One"}, API)
    two = store.create("company", {"name": "Two"}, API)
    sink.events.clear()
    store.associate(c.id, one.id, API, primary=True)
    assert sorted((e.object_type, e.association_type_id) for e in sink.events) == [
        ("company", 2),
        ("company", 280),
        ("contact", 1),
        ("contact", 279),
    ]
    store.associate(c.id, two.id, API, primary=True)
    assert store.value_of("contact", c, "associatedcompanyid") == str(two.id)
    assert store.association_flags(c.id, one.id) == 1
    assert store.associations("contact", c.id) == [one.id, two.id]
    assert store.value_of("company", one, "num_associated_contacts") == "1"
    store.dissociate(c.id, one.id, API)
    assert store.associations("company", one.id) == []
    with pytest.raises(HubSpotApiError):
        store.associate(c.id, 999, API)


def test_load_seeds_fast_and_checks_the_batch(store: CrmStore, sink: ListSink) -> None:
    rows = [
        {
            "email": f"L{i}@example.com",
            "firstname": f"F{i}",
            "createdate": "2024-01-01T00:00:00Z",
            "lastmodifieddate": str(1_704_067_200_000 + i),
        }
        for i in range(5)
    ]
    ids = store.load("contact", rows, API)
    assert ids == [1, 2, 3, 4, 5] and sink.events == [] and store.count("contact") == 5
    record = store.get("contact", "l3@example.com", id_property="email")
    assert record.created_ms == 1_704_067_200_000 and record.updated_ms == 1_704_067_200_003
    with pytest.raises(HubSpotApiError):
        store.load("contact", [{"email": "new@example.com"}, {"email": "l0@example.com"}], API)
    with pytest.raises(HubSpotApiError):
        store.load("contact", [{"email": "z@example.com"}, {"email": "Z@example.com"}], API)
    with pytest.raises(HubSpotApiError):
        store.load("contact", [{"nope": "x"}], API)
    assert store.count("contact") == 5
    store.load(
        "company", [{"name": "A", "domain": "a.com"}, {"name": "B", "domain": "a.com"}], API, emit_events=True
    )
    assert [e.kind for e in sink.events].count("creation") == 2
    store.reset()
    assert store.count("contact") == 0 and store.count("company") == 0


def test_without_listeners_no_events_are_built_but_writes_are_complete() -> None:
    clock = Clock()
    store = CrmStore(SandboxConfig(), PropertyRegistry(clock), NullSink(), clock)
    assert not store.listening
    record = store.create("contact", {"email": "n@example.com", "firstname": "One"}, API)
    store.update("contact", record.id, {"firstname": "Two"}, UI)
    assert [(v, w.change_source) for v, _, w in store.history_of("contact", record, "firstname")] == [
        ("Two", "CRM_UI"),
        ("One", "INTEGRATION"),
    ]
    assert store.get("contact", "n@example.com", id_property="email").id == record.id
    store.sink = sink = ListSink()  # a sink attached later hears the next writes
    assert store.listening
    store.update("contact", record.id, {"firstname": "Three"}, UI)
    assert [(e.kind, e.property_value) for e in sink.events] == [("propertyChange", "Three")]


def test_values_lose_the_internal_separator() -> None:
    layouts = Layouts()
    record = make_record(layouts, 1, 0, {"b": "y", "a": "x\x00z", "c": ""}, 0)
    assert record.values() == {"a": "xz", "b": "y"} and record.layout.names == ("a", "b")
    record.set_values(layouts, {"a": "\x00\x00", "b": "q"})
    assert record.values() == {"a": "", "b": "q"}


def test_properties_of_reads_stored_and_calculated_values(store: CrmStore) -> None:
    record = store.create("contact", {"email": "p@example.com", "jobtitle": "CTO"}, API)
    every = store.properties_of("contact", record)
    assert list(every) == sorted(every)
    assert every["hs_object_id"] == str(record.id) and every["createdate"] == iso_ms(record.created_ms)
    assert every["lastmodifieddate"] == iso_ms(record.updated_ms) and every["jobtitle"] == "CTO"
    named = store.properties_of(
        "contact", record, ["hs_email_domain", "jobtitle", "firstname", "hs_createdate"]
    )
    assert named == {
        "hs_email_domain": "example.com",
        "jobtitle": "CTO",
        "hs_createdate": iso_ms(record.created_ms),
    }
