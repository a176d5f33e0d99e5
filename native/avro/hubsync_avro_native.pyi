"""Type stubs of the compiled module (native/avro/src/lib.rs)."""

from typing import Any

class Codec:
    """Avro binary encoding of one schema without logical types; ``ValueError`` for a schema it does
    not support (a union of two non-null branches, ``fixed``, a recursive type)."""

    def __init__(self, schema_json: str) -> None: ...
    def decode(self, data: bytes, start: int = 0) -> Any:
        """The value of the body from ``data[start:]``; ``ValueError`` when it is truncated,
        malformed or has bytes left over."""

    def encode(self, record: Any) -> bytes:
        """``record``'s Avro binary encoding; ``TypeError`` or ``ValueError`` when it does not fit the
        schema (the caller then lets fastavro say why)."""

    def encode_fields(self, values: tuple[Any, ...]) -> bytes:
        """``encode`` of the record whose fields' values ``values`` holds, in the schema's order;
        ``ValueError`` for a schema that is not a record or a tuple of another length."""
