"""The compiled Avro codec (native/avro) gives fastavro's bytes and values, for every schema of
``schemas/``, and bad input still ends as :class:`UndecodableMessageError` or fastavro's own error."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubsync.avro.codec import SINGLE_OBJECT_HEADER_LEN, SINGLE_OBJECT_MAGIC, SingleObjectCodec
from hubsync.avro.native import native_available, native_codec
from hubsync.avro.schemas import AvroSchema, SchemaRepository
from hubsync.errors import UndecodableMessageError
from tests.avro.samples import SAMPLES, as_ms

REPO = SchemaRepository()
CODEC = SingleObjectCodec(REPO)
SCHEMAS = [REPO.current(stem) for stem in REPO.stems] + [
    s for stem in REPO.stems for s in REPO.released(stem) if s.version is not None
]
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Avro strings are UTF-8: any character but a lone surrogate
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


def _values(node: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of a plain (no logical types) Avro schema node."""
    if isinstance(node, list):
        return st.one_of([_values(branch, named) for branch in node])
    if isinstance(node, str):
        if node in named:
            return named[node]
        return _primitive(node)
    kind = node["type"]
    if kind == "record":
        fields = {f["name"]: _values(f["type"], named) for f in node["fields"]}
        strategy: st.SearchStrategy[Any] = st.fixed_dictionaries(fields)
    elif kind == "enum":
        strategy = st.sampled_from(node["symbols"])
    elif kind == "array":
        strategy = st.lists(_values(node["items"], named), max_size=4)
    elif kind == "map":
        strategy = st.dictionaries(TEXT, _values(node["values"], named), max_size=4)
    else:
        return _primitive(kind)
    if "name" in node:
        named[node["name"]] = strategy
    return strategy


def _primitive(kind: str) -> st.SearchStrategy[Any]:
    return {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": st.integers(-(2**31), 2**31 - 1),
        "long": st.integers(-(2**63), 2**63 - 1),
        "float": st.floats(width=32, allow_nan=False),
        "double": st.floats(allow_nan=False),
        "bytes": st.binary(max_size=12),
        "string": TEXT,
    }[kind]


def _fastavro_bytes(schema: AvroSchema, record: Any) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema.parsed_plain, record)
    return buf.getvalue()


def _fastavro_value(schema: AvroSchema, body: bytes) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(body), schema.parsed_plain, None)


def test_the_compiled_codec_is_installed_and_takes_every_schema() -> None:
    """The README's and CI's install commands install it; without it ingest runs on fastavro alone."""
    assert native_available()
    assert [s.stem for s in SCHEMAS if s.native is None] == []


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: f"{s.stem}-v{s.version or 'current'}")
@EXAMPLES
@given(data=st.data())
def test_the_same_bytes_and_values_as_fastavro(schema: AvroSchema, data: st.DataObject) -> None:
    plain = schema.parsed_plain
    record = data.draw(_values(plain, {}))
    native = schema.native
    assert native is not None
    body = _fastavro_bytes(schema, record)
    assert native.encode(record) == body
    assert native.decode(body) == _fastavro_value(schema, body)
    if schema.field_names:  # a record: given as its fields' values in order, the same bytes
        assert native.encode_fields(tuple(record[name] for name in schema.field_names)) == body


@pytest.mark.parametrize("stem", sorted(SAMPLES))
def test_encode_fields_writes_what_encode_writes(stem: str) -> None:
    """The samples' aware datetimes are refused by the compiled codec: encode_fields then encodes
    the dict of the fields, as encode does; a tuple of another length is refused by both."""
    schema = REPO.current(stem)
    values = tuple(SAMPLES[stem][name] for name in schema.field_names)
    assert CODEC.encode_fields("t", schema, values) == CODEC.encode("t", schema, SAMPLES[stem])
    plain = as_ms(SAMPLES[stem])
    plain_values = tuple(plain[name] for name in schema.field_names)
    assert CODEC.encode_fields("t", schema, plain_values) == CODEC.encode("t", schema, plain)
    native = schema.native
    assert native is not None
    with pytest.raises(ValueError, match="values for"):
        native.encode_fields(plain_values[:-1])
    with pytest.raises(ValueError, match="shorter"):
        CODEC.encode_fields("t", schema, plain_values[:-1])


@pytest.mark.parametrize("stem", sorted(SAMPLES))
def test_the_samples_encode_as_fastavro_encodes_them(stem: str) -> None:
    """The samples carry aware datetimes, which the compiled codec refuses: fastavro encodes them."""
    schema = REPO.current(stem)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema.parsed, SAMPLES[stem])
    assert (
        CODEC.encode("t", schema, SAMPLES[stem]) == SINGLE_OBJECT_MAGIC + schema.fingerprint + buf.getvalue()
    )


def test_encode_fields_without_a_compiled_encode_fields_encodes_the_dict() -> None:
    """A compiled codec built before ``encode_fields`` (installed separately) still encodes rows."""
    current = REPO.current("crm_contact")
    schema = AvroSchema(current.stem, None, current.definition)
    compiled = current.native
    assert compiled is not None

    class Older:
        def decode(self, data: bytes, start: int = 0) -> Any:
            return compiled.decode(data, start)

        def encode(self, record: Any) -> bytes:
            return compiled.encode(record)

    schema.__dict__["native"] = Older()  # what the cached property would hold
    record = as_ms(SAMPLES["crm_contact"])
    values = tuple(record[name] for name in schema.field_names)
    assert CODEC.encode_fields("t", schema, values) == CODEC.encode("t", current, record)


def test_a_framing_error_is_not_taken_for_a_refused_value() -> None:
    """The header (a registry's schema id, for the Confluent framing) is asked for once: its error
    is raised as it is, not caught as the compiled codec's refusal and asked for again."""

    class FailingHeader(SingleObjectCodec):
        calls = 0

        def header(self, topic: str, schema: AvroSchema) -> bytes:
            self.calls += 1
            raise ValueError("the registry answered something that is not JSON")

    codec = FailingHeader(REPO)
    schema = REPO.current("crm_contact")
    record = as_ms(SAMPLES["crm_contact"])
    with pytest.raises(ValueError, match="not JSON"):
        codec.encode_fields("t", schema, tuple(record[name] for name in schema.field_names))
    assert codec.calls == 1


def _outcome(encode: Any) -> Any:
    try:
        return encode()
    except (TypeError, ValueError, OverflowError, KeyError, AttributeError) as exc:
        return type(exc)


def _change(**changes: Any) -> dict[str, Any]:
    return {**as_ms(SAMPLES["hubspot_change_event"]), **changes}


ASSOCIATION = {
    "from_object_type": "CONTACT",
    "from_object_id": "1",
    "to_object_type": "COMPANY",
    "to_object_id": "2",
}
ODD_RECORDS = {
    "a nested record's missing boolean": ("hubspot_change_event", _change(association=ASSOCIATION)),
    "a nested record's None boolean": (
        "hubspot_change_event",
        _change(association={**ASSOCIATION, "removed": None}),
    ),
    "a string where an array goes": (
        "hubspot_change_event",
        _change(merge={"primary_object_id": "1", "merged_object_ids": "23", "new_object_id": None}),
    ),
    "a tuple where an array goes": ("hubspot_change_event", _change(associated_company_ids=("1", "2"))),
    "an int outside an int's range in a union": (
        "push_error",
        {**as_ms(SAMPLES["push_error"]), "http_status": 2**31},
    ),
    "a bool where a long goes": ("crm_contact", {**as_ms(SAMPLES["crm_contact"]), "record_id": True}),
    "an int where a boolean goes": ("crm_contact", {**as_ms(SAMPLES["crm_contact"]), "erased": 1}),
    "a missing field without a default": (
        "crm_contact",
        {k: v for k, v in as_ms(SAMPLES["crm_contact"]).items() if k != "record_id"},
    ),
}


@pytest.mark.parametrize("case", sorted(ODD_RECORDS))
def test_odd_records_encode_or_fail_exactly_as_with_fastavro(case: str) -> None:
    """The compiled codec refuses what it is not sure of, so the codec ends as fastavro does: the
    same bytes, or the same kind of error."""
    stem, record = ODD_RECORDS[case]
    schema = REPO.current(stem)
    expected = _outcome(lambda: _fastavro_bytes(schema, record))
    got = _outcome(lambda: CODEC.encode("t", schema, record)[SINGLE_OBJECT_HEADER_LEN:])
    assert got == expected
    native = schema.native
    assert native is not None
    if isinstance(expected, type):  # fastavro refuses it: the compiled codec must not write it
        with pytest.raises((TypeError, ValueError, OverflowError)):
            native.encode(record)


def test_a_record_neither_codec_takes_raises_fastavro_s_error() -> None:
    schema = REPO.current("crm_contact")
    record = {**_contact(), "record_id": "not a number"}
    with pytest.raises((TypeError, ValueError)):
        CODEC.encode("t", schema, record)


def test_timestamps_as_ints_or_datetimes_give_the_same_bytes() -> None:
    schema = REPO.current("crm_contact")
    moment = datetime(2026, 12, 5, 12, 0, 0, 123000, tzinfo=UTC)
    as_int = {**_contact(), "updated_at": int(moment.timestamp() * 1000)}
    as_datetime = {**_contact(), "updated_at": moment}
    assert CODEC.encode("t", schema, as_int) == CODEC.encode("t", schema, as_datetime)


def test_plain_decoding_of_the_current_schema_goes_through_the_compiled_codec() -> None:
    schema = REPO.current("crm_contact")
    data = CODEC.encode("t", schema, _contact())
    value = CODEC.decode("t", schema, data, plain=True)
    assert value == _fastavro_value(schema, data[SINGLE_OBJECT_HEADER_LEN:])
    assert value["updated_at"] == 1_764_936_000_000


def test_bad_bodies_are_undecodable_with_the_reason() -> None:
    schema = REPO.current("crm_contact")
    good = CODEC.encode("t", schema, _contact())
    with pytest.raises(UndecodableMessageError, match="trailing bytes"):
        CODEC.decode("t", schema, good + b"\x00", plain=True)
    with pytest.raises(UndecodableMessageError, match="does not decode"):
        CODEC.decode("t", schema, good[:-3], plain=True)
    # the body: record_id (one byte), then hubspot_id's union index, ["null", "string"]: 5 is none
    at = SINGLE_OBJECT_HEADER_LEN + 1
    assert good[at] == 2  # zig-zag 1: the string branch
    with pytest.raises(UndecodableMessageError, match="does not decode"):
        CODEC.decode("t", schema, good[:at] + b"\x0a" + good[at + 1 :], plain=True)


def test_a_body_only_fastavro_reads_is_read_as_fastavro_reads_it() -> None:
    """A negative union index (zig-zag 0x01: -1) is malformed; fastavro reads it as Python indexes a
    list (the last branch), the compiled codec refuses it and leaves the body to fastavro."""
    schema = REPO.current("crm_contact")
    good = CODEC.encode("t", schema, _contact())
    at = SINGLE_OBJECT_HEADER_LEN + 1
    odd = good[:at] + b"\x01" + good[at + 1 :]
    native = schema.native
    assert native is not None
    with pytest.raises(ValueError, match="union index"):
        native.decode(odd, SINGLE_OBJECT_HEADER_LEN)
    assert CODEC.decode("t", schema, odd, plain=True) == _fastavro_value(
        schema, odd[SINGLE_OBJECT_HEADER_LEN:]
    )


def test_a_corrupt_block_count_fails_at_once() -> None:
    """An array or map claiming more items than its bytes can hold is refused before it is read."""
    codec = native_codec({"type": "array", "items": "long"})
    assert codec is not None
    huge = b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f"  # zig-zag varint of 2**62 - 1 items
    with pytest.raises(ValueError, match="block count exceeds"):
        codec.decode(huge)
    nulls = native_codec({"type": "array", "items": "null"})
    assert nulls is not None
    assert nulls.decode(b"\x06\x00") == [None, None, None]
    with pytest.raises(ValueError, match="block count exceeds"):
        nulls.decode(huge)


def test_schemas_outside_its_scope_are_left_to_fastavro() -> None:
    assert native_codec(["null", "string", "long"]) is None  # two non-null branches
    assert native_codec({"type": "fixed", "name": "F", "size": 4}) is None


def _contact() -> dict[str, Any]:
    return {
        "record_id": 7,
        "portal_id": 1,
        "hubspot_id": "501",
        "crm_status": "SYNCED",
        "creation_source": "HUBSPOT",
        "erased": False,
        "email": "jane@acme.com",
        "additional_emails": ["j@acme.com"],
        "first_name": "Jane",
        "last_name": "Doe",
        "properties": {"jobtitle": "CTO", "phone": None},
        "account_ids": [3, 4],
        "primary_account_id": 3,
        "potential_duplicate_ids": [],
        "merged_into_id": None,
        "hubspot_updated_at": 1_764_935_000_000,
        "updated_at": 1_764_936_000_000,
        "deleted_at": None,
    }
