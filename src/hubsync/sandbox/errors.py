"""HubSpot-shaped errors: one exception that knows its HTTP status and renders HubSpot's body.

Body fields follow the ``Error`` schema of HubSpot's OpenAPI files: ``status``, ``message``,
``correlationId``, ``category``, optional ``subCategory`` (top-level errors only, see
:meth:`HubSpotApiError.to_standard_error`), ``context`` (name -> list of strings),
``errors`` (``ErrorDetail``: message, code, in, subCategory, context) and ``links``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


def correlation_id() -> str:
    return str(uuid.uuid4())


@dataclass
class ErrorDetail:
    message: str
    code: str | None = None
    location: str | None = None  # HubSpot's "in"
    sub_category: str | None = None
    context: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.code is not None:
            body["code"] = self.code
        if self.location is not None:
            body["in"] = self.location
        if self.sub_category is not None:
            body["subCategory"] = self.sub_category
        if self.context:
            body["context"] = self.context
        return body


class HubSpotApiError(Exception):
    """An error response. ``extra`` adds top-level fields (e.g. ``errorType``/``policyName`` on 429)."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        sub_category: str | None = None,
        context: dict[str, list[str]] | None = None,
        errors: list[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.sub_category = sub_category
        self.context = context or {}
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra or {}
        self.correlation_id = correlation_id()

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": self.correlation_id,
            "category": self.category,
        }
        if self.sub_category is not None:
            body["subCategory"] = self.sub_category
        if self.context:
            body["context"] = self.context
        if self.errors:
            body["errors"] = [e.to_json() for e in self.errors]
        body["links"] = {}
        body.update(self.extra)
        return body

    def to_standard_error(self) -> dict[str, Any]:
        """The ``StandardError`` shape used inside batch responses (207 partial failures).

        HubSpot's OpenAPI files declare ``StandardError.subCategory`` an object (``Error``'s is a
        string), so a string sub-category is left out here rather than sent in the wrong type."""
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": self.context,
            "errors": [e.to_json() for e in self.errors],
            "links": {},
        }


def validation_error(message: str, *, errors: list[ErrorDetail] | None = None, **kw: Any) -> HubSpotApiError:
    return HubSpotApiError(400, "VALIDATION_ERROR", message, errors=errors, **kw)


def not_found(message: str = "resource not found", **kw: Any) -> HubSpotApiError:
    return HubSpotApiError(404, "OBJECT_NOT_FOUND", message, **kw)


def conflict(message: str, **kw: Any) -> HubSpotApiError:
    return HubSpotApiError(409, "CONFLICT", message, **kw)
