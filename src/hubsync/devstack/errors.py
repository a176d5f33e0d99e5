"""The single error type of the dev stack."""

from __future__ import annotations

from pathlib import Path


class DevStackError(RuntimeError):
    """A dev-stack component could not be started, checked or stopped.

    When a log file is involved, its tail is appended to the message so the cause is visible
    without opening the file.
    """

    def __init__(self, message: str, *, log_file: Path | None = None, log_tail: str = "") -> None:
        if log_file is not None:
            message += f"\n--- last lines of {log_file} ---\n{log_tail or '(empty)'}"
        super().__init__(message)
        self.log_file = log_file
