"""The Confluent wire format against a registry speaking the Confluent REST API.

No Confluent Schema Registry can be installed on this machine (it is not published to the
package registries reachable here), so this test runs a minimal in-process server implementing
the two endpoints the codec uses, with the registry's documented request and response shapes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hubsync.avro.codec import ConfluentCodec, codec_from_settings
from hubsync.avro.registry import SchemaRegistryClient
from hubsync.avro.schemas import SchemaRepository
from hubsync.errors import RetriableError, UndecodableMessageError
from hubsync.settings import Settings
from tests.avro.samples import SAMPLES


class _Registry(BaseHTTPRequestHandler):
    schemas: dict[int, str] = {}
    subjects: dict[str, list[int]] = {}
    auth_seen: list[str | None] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.auth_seen.append(self.headers.get("Authorization"))
        parts = self.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "subjects" or parts[2] != "versions":
            self._send(404, {"error_code": 404, "message": "HTTP 404 Not Found"})
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = json.dumps(json.loads(body["schema"]), sort_keys=True)
        sid = next((known for known, existing in self.schemas.items() if existing == text), None)
        if sid is None:
            sid = len(self.schemas) + 1
            self.schemas[sid] = text
        self.subjects.setdefault(parts[1], []).append(sid)
        self._send(200, {"id": sid})

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and int(parts[2]) in self.schemas:
            self._send(200, {"schema": self.schemas[int(parts[2])]})
        else:
            self._send(404, {"error_code": 40403, "message": "Schema not found"})


@pytest.fixture
def registry_url() -> Iterator[str]:
    _Registry.schemas, _Registry.subjects, _Registry.auth_seen = {}, {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://reg-user:reg-pass@127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_confluent_round_trip_and_framing(registry_url: str) -> None:
    codec = codec_from_settings(Settings(schema_registry_url=registry_url))
    assert isinstance(codec, ConfluentCodec)
    schema = codec.repository.current("hubspot_change_event")
    data = codec.encode("hubspot.contacts.changes", schema, SAMPLES["hubspot_change_event"])
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == 1
    assert _Registry.subjects == {"hubspot.contacts.changes-value": [1]}
    assert _Registry.auth_seen[0] is not None and _Registry.auth_seen[0].startswith("Basic ")
    # a fresh codec (another process) resolves the writer schema by id from the registry
    other = ConfluentCodec(SchemaRepository(), SchemaRegistryClient(registry_url))
    assert other.decode("hubspot.contacts.changes", schema, data) == SAMPLES["hubspot_change_event"]


def test_confluent_decode_errors(registry_url: str) -> None:
    codec = ConfluentCodec(SchemaRepository(), SchemaRegistryClient(registry_url))
    schema = codec.repository.current("dead_letter")
    with pytest.raises(UndecodableMessageError, match="wire format"):
        codec.decode("t", schema, b"\xc3\x01abc")
    with pytest.raises(UndecodableMessageError, match="schema id 99"):
        codec.decode("t", schema, b"\x00\x00\x00\x00\x63\x02")


def test_unreachable_registry_is_retriable() -> None:
    client = SchemaRegistryClient("http://127.0.0.1:9", timeout=1.0)
    with pytest.raises(RetriableError, match="unreachable"):
        client.get_schema(1)
