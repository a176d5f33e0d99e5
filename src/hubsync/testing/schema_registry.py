"""The project's schema registry for tests: the Confluent Schema Registry REST API, in process.

No Confluent-compatible registry can be run on these machines (Confluent's is not published to
the package registries reachable here, and Apicurio Registry's Maven artefacts are a library
missing the modules its Quarkus build needs; see docs/subscribers.md). This server implements
the part of the documented API that producers, consumers and CI pipelines use, with the
documented request and response shapes, so that clients nobody here wrote (confluent-kafka's
``SchemaRegistryClient``, ``AvroSerializer`` and ``AvroDeserializer``) can be pointed at it:

* ``POST /subjects/{subject}/versions`` registers (the same schema again returns its id), and
  answers 409 when the subject's compatibility rule refuses the schema;
* ``POST /subjects/{subject}`` looks a schema up; ``GET /subjects``,
  ``GET /subjects/{subject}/versions``, ``GET /subjects/{subject}/versions/{n|latest}``;
* ``GET /schemas/ids/{id}`` (query parameters ignored);
* ``GET|PUT /config`` and ``/config/{subject}``: ``BACKWARD`` (the default, as Confluent's),
  ``FORWARD``, ``FULL``, their ``_TRANSITIVE`` forms and ``NONE``;
* ``POST /compatibility/subjects/{subject}/versions/{n|latest}``: ``{"is_compatible": bool}``.

Compatibility is decided by Apache Avro's own checker (``avro.compatibility``).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote, urlsplit

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

__all__ = ["ConfluentApiRegistry"]

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_LEVELS = {
    "NONE", "BACKWARD", "FORWARD", "FULL", "BACKWARD_TRANSITIVE", "FORWARD_TRANSITIVE", "FULL_TRANSITIVE",
}  # fmt: skip


def _reads(reader: str, writer: str) -> bool:
    result = ReaderWriterCompatibilityChecker().get_compatibility(  # type: ignore[no-untyped-call]
        avro.schema.parse(reader), avro.schema.parse(writer)
    )
    return bool(result.compatibility is SchemaCompatibilityType.compatible)


def compatible(level: str, new: str, existing: list[str]) -> bool:
    """Whether ``new`` may follow ``existing`` (oldest first) under ``level``."""
    if level == "NONE" or not existing:
        return True
    against = existing if level.endswith("_TRANSITIVE") else existing[-1:]
    kind = level.removesuffix("_TRANSITIVE")
    for old in against:
        if kind in ("BACKWARD", "FULL") and not _reads(new, old):
            return False
        if kind in ("FORWARD", "FULL") and not _reads(old, new):
            return False
    return True


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.schemas: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}
        self.config: dict[str, str] = {}
        self.global_level = "BACKWARD"
        self.authorization: list[str | None] = []

    def level(self, subject: str) -> str:
        return self.config.get(subject, self.global_level)


def _canonical(text: str) -> str:
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


class _Handler(BaseHTTPRequestHandler):
    state: _State

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", _CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: int, message: str) -> None:
        self._send(status, {"error_code": code, "message": message})

    def _parts(self) -> list[str]:
        self.state.authorization.append(self.headers.get("Authorization"))
        return [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/") if p]

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        return body if isinstance(body, dict) else {}

    def _version(self, subject: str, version: str) -> tuple[int, int] | None:
        ids = self.state.subjects.get(subject, [])
        if not ids:
            return None
        if version not in ("latest", "-1") and not version.isdigit():
            return None
        index = len(ids) if version in ("latest", "-1") else int(version)
        return (index, ids[index - 1]) if 1 <= index <= len(ids) else None

    def do_GET(self) -> None:
        parts, s = self._parts(), self.state
        with s.lock:
            if (
                parts[:2] == ["schemas", "ids"]
                and len(parts) == 3
                and parts[2].isdigit()
                and int(parts[2]) in s.schemas
            ):
                self._send(200, {"schema": s.schemas[int(parts[2])]})
            elif parts == ["subjects"]:
                self._send(200, sorted(s.subjects))
            elif (
                len(parts) == 3
                and parts[0] == "subjects"
                and parts[2] == "versions"
                and parts[1] in s.subjects
            ):
                self._send(200, list(range(1, len(s.subjects[parts[1]]) + 1)))
            elif len(parts) == 4 and parts[0] == "subjects" and parts[2] == "versions":
                found = self._version(parts[1], parts[3])
                if found is None:
                    self._error(404, 40401, f"Subject '{parts[1]}' or its version not found")
                else:
                    version, sid = found
                    self._send(
                        200, {"subject": parts[1], "version": version, "id": sid, "schema": s.schemas[sid]}
                    )
            elif parts and parts[0] == "config":
                subject = parts[1] if len(parts) > 1 else None
                level = s.config.get(subject) if subject else s.global_level
                if level is None:
                    self._error(404, 40408, f"Subject '{subject}' does not have subject-level compatibility")
                else:
                    self._send(200, {"compatibilityLevel": level})
            else:
                self._error(404, 40403, "Schema not found")

    def do_PUT(self) -> None:
        parts, s = self._parts(), self.state
        level = str(self._body().get("compatibility", ""))
        if not parts or parts[0] != "config" or level not in _LEVELS:
            self._error(422, 42203, f"Invalid compatibility level {level!r}")
            return
        with s.lock:
            if len(parts) > 1:
                s.config[parts[1]] = level
            else:
                s.global_level = level
        self._send(200, {"compatibility": level})

    def do_POST(self) -> None:
        parts, s = self._parts(), self.state
        body = self._body()
        try:
            text = _canonical(str(body["schema"]))
            avro.schema.parse(text)
        except (KeyError, ValueError, avro.errors.SchemaParseException) as exc:
            self._error(422, 42201, f"Invalid schema: {exc}")
            return
        with s.lock:
            if len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
                self._register(parts[1], text)
            elif len(parts) == 2 and parts[0] == "subjects":
                ids = s.subjects.get(parts[1], [])
                match = next((i for i, sid in enumerate(ids, 1) if s.schemas[sid] == text), None)
                if not ids:
                    self._error(404, 40401, f"Subject '{parts[1]}' not found")
                elif match is None:
                    self._error(404, 40403, "Schema not found")
                else:
                    sid = ids[match - 1]
                    self._send(200, {"subject": parts[1], "version": match, "id": sid, "schema": text})
            elif len(parts) == 5 and parts[:2] == ["compatibility", "subjects"] and parts[3] == "versions":
                found = self._version(parts[2], parts[4])
                if found is None:
                    self._error(404, 40401, f"Subject '{parts[2]}' or version {parts[4]} not found")
                    return
                ids = s.subjects[parts[2]]
                level = s.level(parts[2])
                # a transitive rule checks every version up to the one named, else that version only
                against = ids[: found[0]] if level.endswith("_TRANSITIVE") else [found[1]]
                existing = [s.schemas[sid] for sid in against]
                self._send(200, {"is_compatible": compatible(level, text, existing)})
            else:
                self._error(404, 404, "HTTP 404 Not Found")

    def _register(self, subject: str, text: str) -> None:
        s = self.state
        ids = s.subjects.setdefault(subject, [])
        sid = next((known for known, existing in s.schemas.items() if existing == text), None)
        if sid is not None and sid in ids:
            self._send(200, {"id": sid})
            return
        if not compatible(s.level(subject), text, [s.schemas[i] for i in ids]):
            self._error(
                409, 409, f"Schema being registered is incompatible with an earlier schema for subject "
                f"\"{subject}\" ({s.level(subject)})",
            )  # fmt: skip
            return
        if sid is None:
            sid = len(s.schemas) + 1
            s.schemas[sid] = text
        ids.append(sid)
        self._send(200, {"id": sid})


class ConfluentApiRegistry:
    """``with ConfluentApiRegistry() as registry: registry.url``: a registry on a free loopback port."""

    def __init__(self) -> None:
        self.state = _State()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="schema-registry", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
