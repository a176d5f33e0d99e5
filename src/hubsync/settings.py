"""Typed, frozen settings read from the environment and an optional TOML file.

Connection variables keep the names operators already know (``KAFKA_BOOTSTRAP_SERVERS``,
``DATABASE_URL``, ``HUBSPOT_*``, ``SCHEMA_REGISTRY_URL``); everything else is ``HUBSYNC_*``.
Precedence: explicit arguments > environment > ``HUBSYNC_CONFIG_FILE`` (TOML) > defaults.
When the Kafka or database settings are missing, :func:`load_settings` falls back to the
running dev stack (``hubsync dev up``), so local commands find it by themselves.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hubsync.errors import ConfigurationError

CONFIG_FILE_ENV = "HUBSYNC_CONFIG_FILE"
DEFAULT_DEV_DIR = Path.home() / ".hubsync" / "dev"
DEV_STATE_FILE = "state.json"


class TopicNames(BaseModel):
    """Kafka topic names; each can be renamed (``HUBSYNC_TOPICS__HUBSPOT_CONTACTS=...``)."""

    model_config = ConfigDict(frozen=True)

    hubspot_contacts: str = "hubspot.contacts.changes"
    hubspot_companies: str = "hubspot.companies.changes"
    #: full reads (backfills, ``pull --full``): their own lane, so a big backfill never sits ahead of
    #: webhook-driven changes in a partition (docs/portals.md#fair-sharing)
    hubspot_contacts_backfill: str = "hubspot.contacts.backfill"
    hubspot_companies_backfill: str = "hubspot.companies.backfill"
    platform_contacts: str = "platform.contacts.changes"
    platform_accounts: str = "platform.accounts.changes"
    crm_contacts: str = "crm.contacts"
    crm_accounts: str = "crm.accounts"
    push_errors: str = "hubsync.push.errors"
    dlq: str = "hubsync.dlq"


def _alias(*names: str) -> Any:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every knob of hubsync. Secrets are :class:`SecretStr` and never printed."""

    model_config = SettingsConfigDict(
        env_prefix="HUBSYNC_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
        populate_by_name=True,
    )

    kafka_bootstrap_servers: str | None = Field(
        default=None, validation_alias=_alias("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers")
    )
    #: how the Kafka clients authenticate (librdkafka's property names; see docs/deploy.md)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", validation_alias=_alias("KAFKA_SECURITY_PROTOCOL", "kafka_security_protocol")
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, validation_alias=_alias("KAFKA_SASL_MECHANISM", "kafka_sasl_mechanism")
    )
    kafka_sasl_username: str | None = Field(
        default=None, validation_alias=_alias("KAFKA_SASL_USERNAME", "kafka_sasl_username")
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, validation_alias=_alias("KAFKA_SASL_PASSWORD", "kafka_sasl_password")
    )
    kafka_ssl_ca_location: Path | None = Field(
        default=None, validation_alias=_alias("KAFKA_SSL_CA_LOCATION", "kafka_ssl_ca_location")
    )
    kafka_ssl_certificate_location: Path | None = Field(
        default=None,
        validation_alias=_alias("KAFKA_SSL_CERTIFICATE_LOCATION", "kafka_ssl_certificate_location"),
    )
    kafka_ssl_key_location: Path | None = Field(
        default=None, validation_alias=_alias("KAFKA_SSL_KEY_LOCATION", "kafka_ssl_key_location")
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, validation_alias=_alias("KAFKA_SSL_KEY_PASSWORD", "kafka_ssl_key_password")
    )
    kafka_ssl_endpoint_identification_algorithm: Literal["https", "none"] = Field(
        default="https",
        validation_alias=_alias(
            "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM", "kafka_ssl_endpoint_identification_algorithm"
        ),
    )
    database_url: SecretStr | None = Field(
        default=None, validation_alias=_alias("DATABASE_URL", "database_url")
    )
    #: the schema owner's URL, used by ``hubsync db migrate`` only (None: ``DATABASE_URL``)
    migration_database_url: SecretStr | None = None
    #: the role the processes connect as; ``hubsync db migrate`` grants it row access, no DDL
    database_runtime_role: str | None = Field(default=None, min_length=1, max_length=63)
    schema_registry_url: str | None = Field(
        default=None, validation_alias=_alias("SCHEMA_REGISTRY_URL", "schema_registry_url")
    )
    hubspot_access_token: SecretStr | None = Field(
        default=None, validation_alias=_alias("HUBSPOT_ACCESS_TOKEN", "hubspot_access_token")
    )
    hubspot_base_url: str = Field(
        default="https://api.hubapi.com",
        validation_alias=_alias("HUBSPOT_BASE_URL", "hubspot_base_url"),
    )
    #: webhook requests per second the receiver serves before answering 429 (0: no bound)
    webhook_max_requests_per_s: float = Field(default=200.0, ge=0)
    hubspot_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=_alias("HUBSPOT_WEBHOOK_SECRET", "hubspot_webhook_secret")
    )
    #: the public app (OAuth installs by many portals; docs/portals.md): its credentials, the URL
    #: HubSpot redirects an install back to (``.../oauth/callback`` on the webhook receiver) and scopes
    hubspot_client_id: str | None = Field(
        default=None, validation_alias=_alias("HUBSPOT_CLIENT_ID", "hubspot_client_id")
    )
    hubspot_client_secret: SecretStr | None = Field(
        default=None, validation_alias=_alias("HUBSPOT_CLIENT_SECRET", "hubspot_client_secret")
    )
    hubspot_oauth_redirect_uri: str | None = Field(
        default=None, validation_alias=_alias("HUBSPOT_OAUTH_REDIRECT_URI", "hubspot_oauth_redirect_uri")
    )
    hubspot_oauth_scopes: str = (
        "crm.objects.contacts.read crm.objects.contacts.write crm.objects.companies.read "
        "crm.objects.companies.write crm.schemas.contacts.read crm.schemas.companies.read"
    )
    hubspot_authorize_url: str = Field(
        default="https://app.hubspot.com/oauth/authorize",
        validation_alias=_alias("HUBSPOT_AUTHORIZE_URL", "hubspot_authorize_url"),
    )
    #: keys that encrypt the portals' tokens at rest, ``<id>:<base64 32 bytes>,...`` (first encrypts)
    token_keys: SecretStr | None = None
    #: the portal a command works on when several installed the app (default: the only one)
    portal_id: int | None = Field(default=None, ge=1)
    #: an OAuth access token is refreshed this many seconds before it expires
    oauth_refresh_margin_s: float = Field(default=300.0, ge=0, le=900)
    #: seconds the HubSpot client waits to connect, for a read of the answer, to write the request,
    #: and for a free connection of its pool (httpx's four timeouts)
    hubspot_connect_timeout_s: float = Field(default=5.0, gt=0)
    hubspot_read_timeout_s: float = Field(default=30.0, gt=0)
    #: after HubSpot refused a portal's requests for a reason that lasts (its daily limit used up,
    #: resetting at midnight in the account's time zone; the token revoked or lacking scopes), seconds
    #: before a process tries again, one request each time; the work waiting is kept
    hubspot_blocked_wait_s: float = Field(default=300.0, gt=0)
    hubspot_write_timeout_s: float = Field(default=30.0, gt=0)
    hubspot_pool_timeout_s: float = Field(default=30.0, gt=0)
    #: HubSpot requests in flight at once across all the portals a process serves, shared fairly
    #: (docs/portals.md#fair-sharing); each portal's own rate limit applies as well
    hubspot_max_in_flight: int = Field(default=64, ge=1, le=4_096)

    topics: TopicNames = TopicNames()
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    consumer_group: str = "hubsync"

    #: the poller leaves the newest ``poll_settle_ms`` for the next poll (HubSpot's search index lags)
    #: and re-reads the last ``poll_overlap_ms`` of the previous one
    poll_settle_ms: int = Field(default=5_000, ge=0)
    poll_overlap_ms: int = Field(default=60_000, ge=0)

    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9400, ge=0, le=65535)
    log_level: str = "INFO"
    #: the ingest agents apply at most this many events per PostgreSQL transaction, waiting at
    #: most ``ingest_batch_wait_ms`` for a batch to fill. 4,000: a worker spent ~15-25% less CPU an
    #: event than with 2,000 in the ingest benchmark, its peak memory 260-295 MB against 220-260
    #: (docs/performance.md, session 23); 5,000 and more came nearer the 300 MB target
    ingest_batch_max: int = Field(default=4_000, ge=1, le=100_000)
    ingest_batch_wait_ms: int = Field(default=50, ge=1, le=60_000)
    #: the backfill lane's batches are smaller, so a webhook-driven batch never waits long behind one
    ingest_backfill_batch_max: int = Field(default=500, ge=1, le=100_000)
    #: each ingest lane runs this many consumers in its group, each applying its own partitions'
    #: batches in a thread and on a connection of its own, so one batch's Python work runs while
    #: another's statements run in PostgreSQL
    ingest_consumers: int = Field(default=3, ge=1, le=32)
    #: an ingest batch locks its records one by one, and then its matching keys, up to this many of
    #: each; records over it are left to row locks and the unique constraint, keys over it lock their
    #: kind's detection as a whole (exact, but it holds off the other batches' detection of that kind
    #: until it commits). Each lock takes a slot of PostgreSQL's shared lock table: a worker refuses to
    #: start when its batches at once (2 x ingest_consumers) could take over a third of it
    ingest_max_locks: int = Field(default=128, ge=0, le=1_000_000)
    #: a worker that stops heartbeating loses its partitions to the others after this long (the
    #: ingest lanes' groups and the push agents'); Kafka's brokers accept 6-1,800 s by default
    consumer_session_timeout_s: float = Field(default=10.0, ge=6.0, le=1_800.0)

    @property
    def consumer_heartbeat_interval_s(self) -> float:
        """A third of the session timeout (Kafka's advice), at most 1 s: a member learns that its group
        is rebalancing from a heartbeat's answer, and the rebalance (with the members waiting for their
        partitions) waits for it: at 3 s, a worker's lane consumers joining one after another left one
        of them applying alone for ~3.2 s (docs/ingest.md#consumer-groups)."""
        return min(1.0, self.consumer_session_timeout_s / 3)

    #: how often a worker with HubSpot access reads every portal's property definitions again (a
    #: custom property made in HubSpot, a portal installed since the start); 0: at start only
    definitions_refresh_s: float = Field(default=600.0, ge=0, le=7 * 24 * 3600)

    #: seconds a stopping component (SIGTERM) has to drain before it exits anyway (code 1); keep it
    #: below the orchestrator's kill timeout (the chart sets terminationGracePeriodSeconds to this + 5)
    shutdown_grace_s: float = Field(default=25.0, gt=0, le=3_600)

    field_mappings_file: Path | None = None
    dev_dir: Path = DEFAULT_DEV_DIR

    #: the admin console (docs/console.md): off until a sign-in mode is set. ``password``: users
    #: of ``hubsync console users`` (argon2id hashes in PostgreSQL); ``proxy``: a trusted reverse
    #: proxy signs people in and names them in ``console_proxy_user_header``
    console_auth: Literal["password", "proxy"] | None = None
    #: signs the console's session cookies and CSRF tokens (32 characters at least)
    console_session_secret: SecretStr | None = None
    console_session_ttl_s: float = Field(default=8 * 3600.0, ge=60, le=7 * 24 * 3600)
    #: cookies are sent over HTTPS only (browsers treat http://localhost as secure as well)
    console_secure_cookies: bool = True
    console_proxy_user_header: str = Field(default="X-Forwarded-User", pattern=r"^[A-Za-z0-9-]{1,64}$")
    #: with ``proxy``: the users (comma-separated) who are admins; everyone else is a viewer
    console_proxy_admins: str = ""
    #: with ``proxy``: the addresses (CIDR, comma-separated) the proxy connects from; others get a 403
    console_trusted_proxies: str = "127.0.0.1/32,::1/128"
    #: ``name=http://host:port,...``: the components whose /readyz and /metrics the overview reads
    console_components: str = ""
    #: a Prometheus server scraping the components: the overview's charts come from it
    console_prometheus_url: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - no .env files: explicit config only
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise ConfigFileError(f"{CONFIG_FILE_ENV} points to {path}, which is not a file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def hubspot_access_configured(settings: Settings) -> bool:
    """A private-app token, or a public app whose installs (``hubsync portals``) give tokens."""
    return settings.hubspot_access_token is not None or settings.hubspot_client_id is not None


def public_app(settings: Settings) -> bool:
    """hubsync runs as the public app: many portals installed it (``hubsync portals``), each message
    names its portal. A private-app token (``HUBSPOT_ACCESS_TOKEN``) wins when both are set."""
    return settings.hubspot_access_token is None and settings.hubspot_client_id is not None


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (safe to print or log)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def read_dev_state(dev_dir: Path) -> dict[str, Any] | None:
    """The connection settings the dev stack wrote when it started, or ``None``."""
    path = dev_dir / DEV_STATE_FILE
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def load_settings(**overrides: Any) -> Settings:
    """Read settings; fill missing Kafka/database settings from a running dev stack."""
    settings = Settings(**overrides)
    if settings.kafka_bootstrap_servers and settings.database_url:
        return settings
    state = read_dev_state(settings.dev_dir)
    if not state:
        return settings
    updates: dict[str, Any] = {}
    if not settings.kafka_bootstrap_servers and state.get("kafka_bootstrap_servers"):
        updates["kafka_bootstrap_servers"] = state["kafka_bootstrap_servers"]
    if settings.database_url is None and state.get("database_url"):
        updates["database_url"] = SecretStr(state["database_url"])
    return settings.model_copy(update=updates) if updates else settings


class ConfigFileError(ConfigurationError, FileNotFoundError):
    """``HUBSYNC_CONFIG_FILE`` names a file that does not exist."""


class MissingSettingError(ConfigurationError, RuntimeError):
    """A command needs a setting that is not configured."""

    def __init__(self, env_var: str, hint: str = "") -> None:
        msg = f"{env_var} is not set"
        if hint:
            msg += f": {hint}"
        super().__init__(msg)
        self.env_var = env_var


def require_database_url(settings: Settings) -> str:
    """``DATABASE_URL``, whose connections work in ``HUBSYNC_PORTAL_ID`` when it is set (docs/portals.md)."""
    if settings.database_url is None:
        raise MissingSettingError("DATABASE_URL", "set it, or start the embedded stack with `hubsync dev up`")
    return scoped_conninfo(settings.database_url.get_secret_value(), settings.portal_id)


#: the custom PostgreSQL setting that names a connection's portal (migration 0011)
PORTAL_SETTING = "hubsync.portal"


def with_options(conninfo: str, options: str) -> str:
    """``conninfo`` with ``options`` (``-c name=value ...``) added after its own ``options``."""
    own = conninfo_to_dict(conninfo).get("options") or ""
    return make_conninfo(conninfo, options=f"{own} {options}".strip())


def scoped_conninfo(conninfo: str, portal_id: int | None) -> str:
    """``conninfo`` whose connections work in ``portal_id`` (unchanged for None: the home portal)."""
    if portal_id is None:
        return conninfo
    return with_options(conninfo, f"-c {PORTAL_SETTING}={int(portal_id)}")
