"""Array literals read back by PostgreSQL as exactly the values they were made of."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubsync.storage.arrays import bool_array, int_array, text_array

pytestmark = pytest.mark.integration

ROUND_TRIPS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
BIGINTS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
#: PostgreSQL's text holds any character but NUL
TEXTS = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def _read(conn: psycopg.Connection[tuple[object, ...]], literal: str, cast: str) -> object:
    row = conn.execute(f"SELECT %s::{cast}", (literal,)).fetchone()
    assert row is not None
    return row[0]


@ROUND_TRIPS
@given(values=st.lists(BIGINTS, max_size=20))
def test_int_arrays_read_back_as_the_ints(
    conn: psycopg.Connection[tuple[object, ...]], values: list[int]
) -> None:
    assert _read(conn, int_array(values), "bigint[]") == values


@ROUND_TRIPS
@given(values=st.lists(st.one_of(st.none(), TEXTS), max_size=12))
def test_text_arrays_read_back_as_the_strings(
    conn: psycopg.Connection[tuple[object, ...]], values: list[str | None]
) -> None:
    assert _read(conn, text_array(values), "text[]") == values


@pytest.mark.parametrize(
    "values",
    [
        [],
        [""],
        ["NULL", "null"],  # quoted: the text NULL, not SQL NULL
        ['say "hi"', "back\\slash", "{braces}", "a,b", " padded "],
        ["jane@acme.com", None, "ü@bücher.de"],
    ],
)
def test_text_arrays_keep_what_the_literal_syntax_means_otherwise(
    conn: psycopg.Connection[tuple[object, ...]], values: list[str | None]
) -> None:
    assert _read(conn, text_array(values), "text[]") == values


def test_bool_arrays_read_back_as_the_booleans(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    assert _read(conn, bool_array([True, False, True]), "boolean[]") == [True, False, True]
    assert _read(conn, bool_array([]), "boolean[]") == []
