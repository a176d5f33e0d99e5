"""PostgreSQL array parameters as array literals, for the batch statements' big arrays.

psycopg adapts a Python list element by element in Python: a list of 2,000 ints costs ~1.25 ms
to send and 2,000 strings ~1.7 ms, where the same values as one array literal (``{1,2,3}``,
``{"a","b"}``) cost ~0.2 ms, building it included (measured in docs/performance.md). An ingest
batch sends about twenty such arrays. The statement casts the parameter (``%s::bigint[]``), so
the literal is read exactly as the list would have been.

Literal syntax (PostgreSQL's "Array Value Input"): elements separated by commas; a text element
in double quotes, with ``"`` and ``\\`` escaped by a backslash; an unquoted ``NULL`` is SQL NULL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

__all__ = ["bool_array", "int_array", "text_array"]


def int_array(values: Iterable[int]) -> str:
    """``[1, -2]`` -> ``"{1,-2}"``, for a ``bigint[]`` (or ``int[]``) parameter."""
    return "{" + ",".join([str(int(v)) for v in values]) + "}"


def bool_array(values: Iterable[bool]) -> str:
    """``[True, False]`` -> ``"{t,f}"``, for a ``boolean[]`` parameter."""
    return "{" + ",".join(["t" if v else "f" for v in values]) + "}"


def text_array(values: Iterable[str | None]) -> str:
    """``['a', 'b"c', None]`` -> ``'{"a","b\\\\"c",NULL}'``, for a ``text[]`` (or ``uuid[]``) parameter."""
    items = list(values)
    if not items:
        return "{}"
    if None not in items:
        plain = cast(list[str], items)
        raw = "".join(plain)
        if '"' not in raw and "\\" not in raw:  # the common case: nothing to escape
            return '{"' + '","'.join(plain) + '"}'
    return "{" + ",".join([_quoted(v) for v in items]) + "}"


def _quoted(value: str | None) -> str:
    if value is None:
        return "NULL"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
