"""A small client for the Confluent Schema Registry REST API (register and fetch by id)."""

from __future__ import annotations

import json
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from hubsync.errors import RetriableError, SchemaError

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaRegistryClient:
    """Registers value schemas and fetches writer schemas by id. Credentials may be given in
    the URL (``https://user:pass@host``); they are sent as HTTP basic auth, never logged."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(url)
        auth = None
        if parts.username is not None:
            auth = httpx.BasicAuth(parts.username, parts.password or "")
            host = parts.hostname or ""
            parts = parts._replace(netloc=host + (f":{parts.port}" if parts.port else ""))
        self._client = httpx.Client(
            base_url=urlunsplit(parts),
            auth=auth,
            timeout=timeout,
            transport=transport,
            headers={"Accept": CONTENT_TYPE},
        )

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, path: str, body: dict[str, str] | None = None) -> httpx.Response:
        try:
            return self._client.request(
                method,
                path,
                content=json.dumps(body) if body is not None else None,
                headers={"Content-Type": CONTENT_TYPE} if body is not None else None,
            )
        except httpx.TransportError as exc:
            raise RetriableError(f"schema registry unreachable: {type(exc).__name__}") from exc

    def register(self, subject: str, schema_json: str) -> int:
        """Register (or find) ``schema_json`` under ``subject``; returns its global id."""
        resp = self._request("POST", f"/subjects/{quote(subject, safe='')}/versions", {"schema": schema_json})
        if resp.status_code >= 500:
            raise RetriableError(f"schema registry answered {resp.status_code} registering {subject}")
        if resp.status_code != 200:
            raise SchemaError(f"schema registry refused {subject} ({resp.status_code}): {resp.text[:500]}")
        return int(resp.json()["id"])

    def get_schema(self, schema_id: int) -> str | None:
        """The schema text for ``schema_id``, or None when the registry does not know it."""
        resp = self._request("GET", f"/schemas/ids/{schema_id}")
        if resp.status_code == 404:
            return None
        if resp.status_code >= 500:
            raise RetriableError(f"schema registry answered {resp.status_code} for id {schema_id}")
        if resp.status_code != 200:
            raise SchemaError(f"schema registry error for id {schema_id} ({resp.status_code})")
        return str(resp.json()["schema"])
