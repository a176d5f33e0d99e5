"""Validating sandbox exchanges against HubSpot's OpenAPI files with openapi-core.

The files are vendored, unmodified, in ``hubspot_openapi/``. An exchange is an :class:`httpx.Response`
(with its request) from a live sandbox; small adapters present both to openapi-core's request and
response protocols. The sandbox listens on a loopback port, so requests are matched against the
files' own server (``https://api.hubapi.com``), with the operation's path template given explicitly
(``path_pattern``): HubSpot's paths overlap (``/properties/{objectType}/groups`` also matches
``/properties/{objectType}/{propertyName}``) and the test always knows which operation it called.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from jsonschema_path import SchemaPath
from openapi_core import OpenAPI, V30RequestValidator, V30ResponseValidator
from openapi_core.datatypes import RequestParameters
from openapi_core.security.exceptions import SecurityProviderError
from openapi_core.security.factories import SecurityProviderFactory
from openapi_core.security.providers import BaseProvider
from openapi_core.validation.response.exceptions import DataValidationError
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_DIR = Path(__file__).parent / "hubspot_openapi"
#: short API name -> vendored OpenAPI file
SPEC_FILES: dict[str, str] = {
    "contacts": "crm-contacts-v3.json",
    "companies": "crm-companies-v3.json",
    "properties": "crm-properties-v3.json",
    "associations": "crm-associations-v4.json",
    "webhooks": "webhooks-v3.json",
}
HUBSPOT_SERVER = "https://api.hubapi.com"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@functools.cache
def spec_dict(api: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SPEC_DIR / SPEC_FILES[api]).read_text(encoding="utf-8"))
    return data


def spec_operations(api: str) -> set[tuple[str, str]]:
    """Every (METHOD, path template) the file declares."""
    return {
        (method.upper(), path)
        for path, item in spec_dict(api)["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


class BearerTokenProvider(BaseProvider):
    """HubSpot's ``oauth2`` scheme as it travels: an ``Authorization: Bearer <token>`` header
    (OAuth and private-app access tokens alike). openapi-core only warns for oauth2 schemes."""

    def __call__(self, parameters: RequestParameters) -> str:
        scheme, _, token = str(parameters.header.get("Authorization", "")).partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise SecurityProviderError("an Authorization: Bearer <access token> header is required")
        return token.strip()


class HubSpotSecurity(SecurityProviderFactory):
    PROVIDERS = {**SecurityProviderFactory.PROVIDERS, "oauth2": BearerTokenProvider}


@functools.cache
def _spec_path(api: str) -> SchemaPath:
    return OpenAPI.from_dict(spec_dict(api)).spec


@functools.cache
def request_validator(api: str) -> V30RequestValidator:
    return V30RequestValidator(_spec_path(api), security_provider_factory=HubSpotSecurity())


def _json_error_body(value: bytes, **parameters: str) -> Any:
    """HubSpot's ``Error`` responses are declared for ``*/*``; openapi-core picks a deserializer by
    the declared media type, so a wildcard would leave the body as bytes. HubSpot's (and the
    sandbox's) error bodies are JSON: decode them as JSON (anything else fails validation)."""
    del parameters
    return json.loads(value)


@dataclass
class UnexpectedBodyError(DataValidationError):
    data: bytes

    def __str__(self) -> str:
        return f"the operation declares no body for this status, got {self.data!r}"


class HubSpotResponseValidator(V30ResponseValidator):
    """HubSpot declares its 204s with an empty ``content`` map; openapi-core then demands a body,
    which a 204 cannot have. An empty map declares no body: only an empty one conforms."""

    def _get_data(self, data: bytes | None, mimetype: str, operation_response: SchemaPath) -> Any:
        if "content" in operation_response and not list((operation_response / "content").str_keys()):
            if data:
                raise UnexpectedBodyError(data)
            return None
        return super()._get_data(data, mimetype, operation_response)


@functools.cache
def response_validator(api: str) -> V30ResponseValidator:
    return HubSpotResponseValidator(_spec_path(api), extra_media_type_deserializers={"*/*": _json_error_body})


class OpenAPIRequest:
    """openapi-core's ``Request`` protocol (with ``path_pattern``) over a sent :class:`httpx.Request`."""

    host_url = HUBSPOT_SERVER

    def __init__(self, request: httpx.Request, path_pattern: str, path_params: Mapping[str, str]) -> None:
        self.method = request.method.lower()
        self.path = request.url.path
        self.path_pattern = path_pattern
        self.body: bytes | None = request.content or None
        self.content_type = request.headers.get("content-type", "").lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(list(request.headers.items())),
            path=dict(path_params),
        )


class OpenAPIResponse:
    """openapi-core's ``Response`` protocol over an :class:`httpx.Response`."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.data: bytes | None = response.content
        self.content_type = response.headers.get("content-type", "").lower()
        self.headers = Headers(list(response.headers.items()))


def _describe(error: BaseException) -> Iterator[str]:
    """An openapi-core error and its causes, down to the JSON-schema messages with their paths."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield f"{type(current).__name__}: {current}"
        for schema_error in getattr(current, "schema_errors", None) or ():
            where = "/".join(str(p) for p in schema_error.absolute_path) or "<root>"
            yield f"  at {where}: {schema_error.message}"
        current = current.__cause__ or current.__context__


def request_errors(api: str, request: OpenAPIRequest) -> list[str]:
    return [line for error in request_validator(api).iter_errors(request) for line in _describe(error)]


def response_errors(api: str, request: OpenAPIRequest, response: httpx.Response) -> list[str]:
    errors = response_validator(api).iter_errors(request, OpenAPIResponse(response))
    return [line for error in errors for line in _describe(error)]


def schema_errors(api: str, schema_name: str, instance: object) -> list[str]:
    """Errors of ``instance`` against one of the file's component schemas (e.g. ``Error``)."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec_dict(api)["components"]}
    validator = OAS30Validator(schema, format_checker=oas30_format_checker)
    return [
        f"at {'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(instance)
    ]
