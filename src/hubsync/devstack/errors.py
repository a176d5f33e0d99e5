"""The single error type of the dev stack."""

from __future__ import annotations

from hubsync._runtime.errors import ServiceError


class DevStackError(ServiceError):
    """A dev-stack component could not be started, checked or stopped.

    When a log file is involved, its tail is appended to the message so the cause is visible
    without opening the file. Errors of the shared runtime code reach callers as this type (see
    :func:`hubsync._runtime.errors.reraise_as` on :func:`~hubsync.devstack.up` and friends).
    """
