"""HubSpot's error categories and the HTTP status each goes with.

HubSpot's error body is ``{"status": "error", "message", "correlationId", "category", ...}``;
inside a 207 batch answer each failed input carries a ``status`` and a ``category`` of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

#: the response header that carries HubSpot's correlation id on every answer
CORRELATION_HEADER = "X-HubSpot-Correlation-Id"


class ErrorCategory(StrEnum):
    """The ``category`` of a HubSpot error answer."""

    VALIDATION_ERROR = "VALIDATION_ERROR"
    OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"
    CONFLICT = "CONFLICT"
    MISSING_SCOPES = "MISSING_SCOPES"
    RATE_LIMITS = "RATE_LIMITS"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"


#: the HTTP status of each category (for a batch error that names only its category)
CATEGORY_STATUS: Mapping[str, int] = {
    ErrorCategory.VALIDATION_ERROR: 400,
    ErrorCategory.MISSING_SCOPES: 403,
    ErrorCategory.OBJECT_NOT_FOUND: 404,
    ErrorCategory.METHOD_NOT_ALLOWED: 405,
    ErrorCategory.CONFLICT: 409,
    ErrorCategory.REQUEST_TOO_LARGE: 413,
    ErrorCategory.RATE_LIMITS: 429,
}
