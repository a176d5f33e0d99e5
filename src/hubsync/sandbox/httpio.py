"""Request parsing and JSON answers shared by the sandbox's handlers: JSON bodies, query lists,
object types, JSON responses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from hubsync.hubspot_model.objects import HubSpotObjectName
from hubsync.sandbox.errors import ErrorDetail, HubSpotApiError, validation_error
from hubsync.sandbox.events import Writer

_OBJECT_TYPES: dict[str, HubSpotObjectName] = {
    "contacts": "contact",
    "contact": "contact",
    "0-1": "contact",
    "companies": "company",
    "company": "company",
    "0-2": "company",
}


def object_type_of(name: str) -> HubSpotObjectName:
    try:
        return _OBJECT_TYPES[name.lower()]
    except KeyError:
        raise HubSpotApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}") from None


def _no_constants(name: str) -> Any:
    """``NaN``/``Infinity`` are not JSON (Python's parser accepts them by default)."""
    raise ValueError(f"{name} is not a valid JSON value")


def parse_json(raw: bytes) -> Any:
    """Strict JSON from a request body, or HubSpot's 400: the body must be UTF-8 JSON without
    ``NaN``/``Infinity``; nesting too deep for the parser and integers too long to convert are
    refused like any other malformed input, never answered with a 500."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise validation_error(f"Invalid input JSON: the body is not UTF-8 ({error.reason})") from None
    if not text.strip():
        raise validation_error("Invalid input JSON: the request body is empty")
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as error:
        raise validation_error(
            f"Invalid input JSON on line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except (ValueError, RecursionError) as error:
        raise validation_error(f"Invalid input JSON: {error}") from None


def dump_json(body: Any) -> bytes:
    """Compact UTF-8 JSON: orjson (a batch answer holds 100 records, and the standard library's
    encoder was a good share of serving one), or the standard library for the rare value orjson
    refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON answer (``Content-Type: application/json; charset=utf-8``, as ``web.json_response``)."""
    return web.Response(
        body=dump_json(body),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


async def json_body(request: web.Request) -> Any:
    """The request's JSON, or HubSpot's 400 for a missing or malformed body."""
    return parse_json(await request.read())


async def json_object(request: web.Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise validation_error("Invalid input JSON: expected an object")
    return body


def inputs_of(body: Mapping[str, Any], limit: int) -> list[Any]:
    """``inputs`` of a batch body, at most ``limit`` of them (HubSpot: 100)."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise validation_error(
            "Invalid input JSON: inputs is required and must be an array",
            errors=[ErrorDetail(message="inputs is required", code="REQUIRED_FIELD", location="inputs")],
        )
    if len(inputs) > limit:
        raise validation_error(
            f"Batch input size {len(inputs)} exceeds the limit of {limit} inputs per request",
            errors=[
                ErrorDetail(message=f"at most {limit} inputs", code="TOO_MANY_INPUTS", location="inputs")
            ],
            context={"limit": [str(limit)]},
        )
    return inputs


def properties_of(item: Mapping[str, Any], *, required: bool = True) -> dict[str, Any]:
    props = item.get("properties")
    if props is None and not required:
        return {}
    if not isinstance(props, dict):
        raise validation_error("Invalid input JSON: properties must be an object of property values")
    return props


def query_list(request: web.Request, name: str) -> list[str] | None:
    """A list query parameter given repeated (``a=1&a=2``) or comma-separated (``a=1,2``)."""
    values = [p.strip() for raw in request.query.getall(name, []) for p in raw.split(",") if p.strip()]
    return values or None


def query_bool(request: web.Request, name: str, default: bool = False) -> bool:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() == "true"


def query_int(
    request: web.Request, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation_error(f"{name} must be an integer, got {raw}") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise validation_error(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def optional_str(value: object, name: str) -> str | None:
    """An optional string field of a body (``idProperty`` ...): None when absent or empty."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise validation_error(
            f"Invalid input JSON: {name} must be a string",
            errors=[ErrorDetail(message=f"{name} must be a string", code="INVALID_TYPE", location=name)],
        )
    return value


def string_list(value: object) -> list[str] | None:
    if isinstance(value, list):
        return [str(v) for v in value if str(v)] or None
    return None


def api_writer(request: web.Request, app_id: int) -> Writer:
    """API writes are reported as the app's: changeSource INTEGRATION, sourceId the app id."""
    del request
    return Writer("INTEGRATION", str(app_id))
