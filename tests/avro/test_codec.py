"""The Avro codec: round trips, single-object framing checked against Apache avro, bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import avro.io
import avro.schema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubsync.avro.codec import SINGLE_OBJECT_MAGIC, SingleObjectCodec
from hubsync.avro.schemas import SchemaRepository, default_schema_dir
from hubsync.errors import SchemaError, UndecodableMessageError
from hubsync.settings import Settings, TopicNames
from hubsync.streams.topics import topic_specs
from tests.avro.samples import SAMPLES, as_ms

REPO = SchemaRepository()
CODEC = SingleObjectCodec(REPO)

EMPTY64 = 0xC15D213AA4D7A795


def _fp_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY64 & -(fp & 1))
        table.append(fp)
    return table


FP_TABLE = _fp_table()


def crc64_avro(data: bytes) -> int:
    """The 64-bit Rabin fingerprint exactly as the Avro specification's reference code gives it."""
    fp = EMPTY64
    for byte in data:
        fp = (fp >> 8) ^ FP_TABLE[(fp ^ byte) & 0xFF]
    return fp


def _primitives_collapsed(node: object) -> object:
    if isinstance(node, dict):
        if set(node) == {"type"} and isinstance(node["type"], str):
            return node["type"]
        return {k: _primitives_collapsed(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_primitives_collapsed(v) for v in node]
    return node


def test_every_topic_has_a_schema_and_a_sample() -> None:
    specs = topic_specs(Settings())
    assert len(specs) == len(TopicNames.model_fields) == 10
    for spec in specs:
        assert REPO.current(spec.schema_stem).stem == spec.schema_stem
    assert sorted(SAMPLES) == REPO.stems


@pytest.mark.parametrize("stem", sorted(SAMPLES))
def test_round_trip(stem: str) -> None:
    schema = REPO.current(stem)
    data = CODEC.encode("t", schema, SAMPLES[stem])
    assert data[:2] == SINGLE_OBJECT_MAGIC
    assert CODEC.decode("t", schema, data) == SAMPLES[stem]


@pytest.mark.parametrize("stem", sorted(SAMPLES))
def test_apache_avro_decodes_what_the_codec_encodes(stem: str) -> None:
    schema = REPO.current(stem)
    data = CODEC.encode("t", schema, SAMPLES[stem])
    apache_schema = avro.schema.parse(json.dumps(schema.definition))
    # The header is the spec's CRC-64-AVRO of the Parsing Canonical Form, little-endian,
    # computed here independently of fastavro.
    assert data[2:10] == crc64_avro(schema.canonical_form.encode()).to_bytes(8, "little")
    # Apache avro's Python canonical form leaves logical-typed primitives as {"type": "long"}
    # where the spec's [PRIMITIVES] rule (and the Java implementation) writes "long"; apart
    # from that it is the same form.
    assert _primitives_collapsed(json.loads(apache_schema.canonical_form)) == json.loads(
        schema.canonical_form
    )
    decoded = avro.io.DatumReader(apache_schema).read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))
    assert decoded == SAMPLES[stem]


def test_fingerprint_matches_the_avro_spec_for_a_primitive(tmp_path: Path) -> None:
    # Avro spec: CRC-64-AVRO of the canonical form "int" is 0x7275d51a3f395c8f.
    (tmp_path / "prim.avsc").write_text('"int"')
    schema = SchemaRepository(tmp_path).current("prim")
    assert schema.fingerprint == (0x7275D51A3F395C8F).to_bytes(8, "little")


def test_decode_rejects_other_framings_and_schemas() -> None:
    contact = REPO.current("crm_contact")
    account = REPO.current("crm_account")
    good = CODEC.encode("t", contact, SAMPLES["crm_contact"])
    with pytest.raises(UndecodableMessageError, match="tombstone"):
        CODEC.decode("t", contact, None)
    with pytest.raises(UndecodableMessageError, match="single-object"):
        CODEC.decode("t", contact, b"\x00\x00\x00\x00\x01" + good[10:])
    with pytest.raises(UndecodableMessageError, match="unknown writer schema"):
        CODEC.decode("t", contact, SINGLE_OBJECT_MAGIC + b"\xff" * 8 + good[10:])
    with pytest.raises(UndecodableMessageError, match=r"expected io\.hubsync\.crm\.CrmAccount"):
        CODEC.decode("t", account, good)
    with pytest.raises(UndecodableMessageError, match="trailing bytes"):
        CODEC.decode("t", contact, good + b"\x00")
    with pytest.raises(UndecodableMessageError, match="does not decode"):
        CODEC.decode("t", contact, good[:-5])


@pytest.mark.parametrize("plain", [False, True])  # plain: the compiled codec first, then fastavro
@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200))
def test_garbage_bodies_only_raise_undecodable(plain: bool, body: bytes) -> None:
    schema = REPO.current("hubspot_change_event")
    data = SINGLE_OBJECT_MAGIC + schema.fingerprint + body
    try:
        CODEC.decode("t", schema, data, plain=plain)
    except UndecodableMessageError:
        pass


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=64))
def test_garbage_messages_only_raise_undecodable(data: bytes) -> None:
    schema = REPO.current("dead_letter")
    try:
        CODEC.decode("t", schema, data)
    except UndecodableMessageError:
        pass


def test_data_written_by_an_older_version_reads_with_the_current_schema(tmp_path: Path) -> None:
    current = json.loads((default_schema_dir() / "crm_account.avsc").read_text())
    old = dict(current, fields=[f for f in current["fields"] if f["name"] != "domain_root"])
    (tmp_path / "crm_account.avsc").write_text(json.dumps(current))
    (tmp_path / "released" / "crm_account").mkdir(parents=True)
    (tmp_path / "released" / "crm_account" / "v1.avsc").write_text(json.dumps(old))
    repo = SchemaRepository(tmp_path)
    codec = SingleObjectCodec(repo)
    old_schema = repo.released("crm_account")[0]
    record = {k: v for k, v in SAMPLES["crm_account"].items() if k != "domain_root"}
    data = codec.encode("t", old_schema, record)
    decoded = codec.decode("t", repo.current("crm_account"), data)
    assert decoded == {**record, "domain_root": None}


def test_broken_schema_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.avsc").write_text(
        '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}'
    )
    with pytest.raises(SchemaError, match=r"bad\.avsc"):
        SchemaRepository(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SchemaError, match=r"no \.avsc files"):
        SchemaRepository(empty)
    with pytest.raises(SchemaError, match="no schema named"):
        REPO.current("missing")


@pytest.mark.parametrize("stem", sorted(SAMPLES))
def test_plain_decoding_gives_logical_types_as_their_underlying_values(stem: str) -> None:
    schema = REPO.current(stem)
    data = CODEC.encode("t", schema, SAMPLES[stem])
    plain = CODEC.decode("t", schema, data, plain=True)
    assert plain == as_ms(CODEC.decode("t", schema, data))


def test_plain_decoding_resolves_older_writer_versions(tmp_path: Path) -> None:
    current = json.loads((default_schema_dir() / "crm_account.avsc").read_text())
    old = dict(current, fields=[f for f in current["fields"] if f["name"] != "domain_root"])
    (tmp_path / "crm_account.avsc").write_text(json.dumps(current))
    (tmp_path / "released" / "crm_account").mkdir(parents=True)
    (tmp_path / "released" / "crm_account" / "v1.avsc").write_text(json.dumps(old))
    repo = SchemaRepository(tmp_path)
    codec = SingleObjectCodec(repo)
    record = {k: v for k, v in SAMPLES["crm_account"].items() if k != "domain_root"}
    data = codec.encode("t", repo.released("crm_account")[0], record)
    decoded = codec.decode("t", repo.current("crm_account"), data, plain=True)
    assert decoded == as_ms({**record, "domain_root": None})
