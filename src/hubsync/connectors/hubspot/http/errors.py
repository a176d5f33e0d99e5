"""Exceptions of the HubSpot client, placed in hubsync's one exception tree
(:mod:`hubsync.errors`), each carrying HubSpot's error details for the error log.

None of them ever holds the access token: messages are built from the status, HubSpot's
``category``/``message`` and the templated endpoint only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hubsync.errors import FatalError, RetriableError, SkippableRecordError


@dataclass(frozen=True, slots=True)
class HubSpotErrorDetails:
    """HubSpot's error body, as the push path's error log wants it."""

    #: the record's status: the HTTP status, or inside a 207 batch answer that input's own status
    status: int
    category: str | None = None
    message: str | None = None
    correlation_id: str | None = None
    sub_category: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    errors: tuple[Mapping[str, Any], ...] = ()
    body: Mapping[str, Any] | None = None
    #: the status of the HTTP answer that carried this error (207 for a partial batch) when it
    #: differs from :attr:`status`
    http_status: int | None = None

    @property
    def received_status(self) -> int:
        """The HTTP status actually received (207 for one record's failure in a partial batch)."""
        return self.status if self.http_status is None else self.http_status

    @classmethod
    def from_body(
        cls,
        status: int,
        body: Mapping[str, Any] | None,
        *,
        http_status: int | None = None,
        correlation_header: str | None = None,
    ) -> HubSpotErrorDetails:
        """HubSpot's error ``body``; its ``correlationId``, or else the answer's
        ``X-HubSpot-Correlation-Id`` header (batch errors carry none of their own)."""
        body = body or {}
        context = body.get("context")
        errors = body.get("errors")
        sub = body.get("subCategory")
        return cls(
            status=status,
            category=_str_or_none(body.get("category")),
            message=_str_or_none(body.get("message")),
            correlation_id=_str_or_none(body.get("correlationId")) or correlation_header,
            sub_category=sub if isinstance(sub, str) else None,
            context=dict(context) if isinstance(context, Mapping) else {},
            errors=tuple(e for e in errors if isinstance(e, Mapping)) if isinstance(errors, list) else (),
            body=dict(body) or None,
            http_status=None if http_status == status else http_status,
        )

    def describe(self) -> str:
        """``HTTP 409 CONFLICT: Contact already exists. Existing ID: 7 (correlationId=...)``."""
        text = f"HTTP {self.status}" if self.status else "no HTTP answer"
        if self.http_status is not None:
            text += f" (in an HTTP {self.http_status} answer)"
        if self.category:
            text += f" {self.category}"
        if self.message:
            text += f": {self.message}"
        if self.correlation_id:
            text += f" (correlationId={self.correlation_id})"
        return text


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


class HubSpotFatalError(FatalError):
    """HubSpot refused in a way retrying cannot fix."""

    def __init__(self, message: str, details: HubSpotErrorDetails, *, endpoint: str = "") -> None:
        super().__init__(message)
        self.details = details
        self.endpoint = endpoint


class HubSpotAuthError(HubSpotFatalError):
    """401 (invalid or expired token) or 403 (missing scopes, named in :attr:`missing_scopes`)."""

    def __init__(
        self, message: str, details: HubSpotErrorDetails, *, endpoint: str = "", missing_scopes: list[str]
    ) -> None:
        super().__init__(message, details, endpoint=endpoint)
        self.missing_scopes = missing_scopes


class DailyLimitExhausted(HubSpotFatalError):  # noqa: N818 - the name the spec uses
    """The portal's daily API limit is used up (429 ``policyName: DAILY``); nothing passes
    before HubSpot resets it at midnight in the account's time zone."""


#: refusals that last until HubSpot resets the daily limit or a person fixes the token: the work is
#: kept and tried again once per ``HUBSYNC_HUBSPOT_BLOCKED_WAIT_S``, never in a loop
BLOCKED_ERRORS: tuple[type[HubSpotFatalError], ...] = (DailyLimitExhausted, HubSpotAuthError)


class HubSpotRecordError(SkippableRecordError):
    """A request HubSpot rejected as sent (400 validation, 404, 409, 413, 414, ...)."""

    def __init__(self, message: str, details: HubSpotErrorDetails, *, endpoint: str = "") -> None:
        super().__init__(message)
        self.details = details
        self.endpoint = endpoint


class HubSpotRetriesExhaustedError(RetriableError):
    """Still failing (429, 5xx, 477, connection) after the last attempt, or asked to wait
    longer than the client is willing to sleep; ``details`` hold the last status and body."""

    def __init__(
        self,
        message: str,
        details: HubSpotErrorDetails,
        *,
        endpoint: str = "",
        attempts: int,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.details = details
        self.endpoint = endpoint
        self.attempts = attempts
