"""The guard of tests/fixtures/services.py: a test using Kafka or PostgreSQL without the
``integration`` marker stops the collection (the fixtures are never set up: no server starts)."""

from __future__ import annotations

import pytest

TESTS = """
import pytest

@pytest.fixture
def db(database_url):
    return database_url

@pytest.mark.integration
def test_marked(kafka_bootstrap_servers):
    pass

def test_plain():
    pass

{unmarked}
"""

UNMARKED = """
def test_kafka(kafka_bootstrap_servers):
    pass

def test_through_a_fixture(db):
    pass

class TestSome:
    def test_fresh(self, fresh_database_url):
        pass
"""


def collect(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makeini("[pytest]\nmarkers =\n    integration: needs Kafka and/or PostgreSQL\n")
    pytester.makepyfile(test_sample=source)
    return pytester.runpytest_inprocess("-p", "tests.fixtures.services", "--collect-only", "-q")


def test_marked_tests_and_tests_without_services_collect(pytester: pytest.Pytester) -> None:
    result = collect(pytester, TESTS.format(unmarked=""))
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*2 tests collected*"])


def test_unmarked_tests_using_services_are_refused_by_name(pytester: pytest.Pytester) -> None:
    result = collect(pytester, TESTS.format(unmarked=UNMARKED))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*3 test(s) use Kafka or PostgreSQL*without @pytest.mark.integration*",
            "*test_sample.py::test_kafka",
            "*test_sample.py::test_through_a_fixture",
            "*test_sample.py::TestSome::test_fresh",
        ]
    )
    assert "test_marked" not in result.stderr.str() and "test_plain" not in result.stderr.str()


def test_a_marked_class_covers_its_tests(pytester: pytest.Pytester) -> None:
    source = """
import pytest

@pytest.mark.integration
class TestServices:
    def test_kafka(self, kafka_bootstrap_servers):
        pass
"""
    assert collect(pytester, source).ret == pytest.ExitCode.OK
