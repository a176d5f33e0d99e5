"""ServiceError, log tails, and the conversion of errors into a layer's own type."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubsync._runtime.errors import ServiceError, log_tail, reraise_as


class LayerError(ServiceError):
    pass


def test_service_error_appends_the_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {n}\n" for n in range(100)))
    error = ServiceError("it broke", log_file=log)
    assert str(error).startswith(f"it broke\n--- last lines of {log} ---\n")
    assert "line 99" in str(error)
    assert "line 59\n" not in str(error)  # only the last 40 lines
    assert error.log_file == log


def test_service_error_with_a_given_or_missing_tail(tmp_path: Path) -> None:
    assert str(ServiceError("x", log_file=tmp_path / "a.log", log_tail="given")).endswith("---\ngiven")
    assert str(ServiceError("x", log_file=tmp_path / "missing.log")).endswith("---\n(empty)")
    assert str(ServiceError("x")) == "x"


def test_log_tail_labels_existing_files_and_skips_missing_ones(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("alpha\nbeta\ngamma\n")
    tail = log_tail(tmp_path / "a.log", tmp_path / "missing.log", lines=2)
    assert tail == f"--- last lines of {tmp_path / 'a.log'} ---\nbeta\ngamma"
    assert log_tail(tmp_path / "missing.log") == "(no log output)"


def test_reraise_as_converts_shared_errors_and_keeps_the_cause(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("boom\n")

    @reraise_as(LayerError)
    def fails() -> None:
        raise ServiceError("shared code failed", log_file=log)

    with pytest.raises(LayerError, match=r"shared code failed(.|\n)*boom") as raised:
        fails()
    assert isinstance(raised.value.__cause__, ServiceError)
    assert raised.value.log_file == log
    assert str(raised.value).count("boom") == 1


def test_reraise_as_leaves_other_errors_alone() -> None:
    original = LayerError("already the layer's")
    with pytest.raises(LayerError) as raised, reraise_as(LayerError):
        raise original
    assert raised.value is original
    with pytest.raises(ValueError, match="unrelated"), reraise_as(LayerError):
        raise ValueError("unrelated")
