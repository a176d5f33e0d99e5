"""The error type the shared runtime raises, and the log tails that make such errors useful."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from hubsync.errors import FatalError

__all__ = ["ServiceError", "log_tail", "reraise_as"]


class ServiceError(FatalError, RuntimeError):
    """A local service (broker, PostgreSQL) could not be started, checked or stopped.

    When ``log_file`` is given, its last lines (``log_tail``, read from the file when not given)
    are appended to the message, so the cause is visible without opening the file.
    """

    def __init__(self, message: str, *, log_file: Path | None = None, log_tail: str | None = None) -> None:
        if log_file is not None:
            message += "\n" + _section(log_file, _read_tail(log_file) if log_tail is None else log_tail)
        super().__init__(message)
        self.log_file = log_file


@contextlib.contextmanager
def reraise_as(error: type[ServiceError]) -> Iterator[None]:
    """Turn a :class:`ServiceError` of the shared code into the calling layer's subclass ``error``.

    Used (also as a decorator) on a layer's public entry points, so that e.g. ``hubsync.devstack``
    only ever raises ``DevStackError`` while the shared code knows nothing about it.
    """
    try:
        yield
    except ServiceError as exc:
        if isinstance(exc, error):
            raise
        converted = error(str(exc))
        converted.log_file = exc.log_file
        raise converted from exc


def log_tail(*paths: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of each existing file, each under a header naming it."""
    chunks = [_section(path, _read_tail(path, lines)) for path in paths if path.is_file()]
    return "\n".join(chunks) if chunks else "(no log output)"


def _read_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _section(path: Path, tail: str) -> str:
    return f"--- last lines of {path} ---\n{tail or '(empty)'}"
