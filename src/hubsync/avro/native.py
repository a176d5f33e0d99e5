"""The compiled Avro codec (``native/avro``, the ``hubsync-avro-native`` package), when installed.

Ingest decodes every change event and encodes every canonical record; fastavro spends ~17 and
~15 µs a record on them, the compiled codec ~2.4 and ~1.0, with the same bytes and values
(docs/performance.md, docs/decisions.md). It covers what those paths need and no more:

* schemas without logical types: it decodes timestamps as Unix ms ints (hubsync's "plain"
  decoding, :attr:`~hubsync.avro.schemas.AvroSchema.parsed_plain`) and encodes ints only;
* unions of null and at most one other type (every union in ``schemas/``);
* a body written with the reader's own schema (no schema resolution).

Everything else goes to fastavro, as does every value the compiled codec refuses to encode and
every body it refuses to decode. It refuses strictly (a bool where a number goes, an int outside an
``int``'s range, a missing field without a default, a string where an array goes, a negative union
index): fastavro then encodes or decodes it, or says why not, so both give one behaviour. Without
the package installed, hubsync runs on fastavro alone, as before it existed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol


class NativeCodec(Protocol):
    """What :mod:`hubsync_avro_native`'s ``Codec`` offers (see its stub file)."""

    def decode(self, data: bytes, start: int = 0) -> Any: ...
    def encode(self, record: Any) -> bytes: ...
    def encode_fields(self, values: tuple[Any, ...]) -> bytes: ...


#: what a refused value raises: the caller lets fastavro encode it, or say why not
REFUSED = (TypeError, ValueError, OverflowError)

_Codec: Callable[[str], NativeCodec] | None
try:
    from hubsync_avro_native import Codec as _Compiled

    _Codec = _Compiled
except ImportError:  # not installed: fastavro does everything
    _Codec = None


def native_available() -> bool:
    """Whether the compiled codec is installed."""
    return _Codec is not None


def native_codec(plain_definition: Any) -> NativeCodec | None:
    """The compiled codec of a schema without logical types, or None when it is not installed or
    does not support the schema."""
    if _Codec is None:
        return None
    try:
        return _Codec(json.dumps(plain_definition))
    except ValueError:
        return None
