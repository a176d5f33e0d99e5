"""How every Kafka client of hubsync reaches the cluster: bootstrap servers and security.

One :class:`KafkaConnection`, read from the settings (``KAFKA_BOOTSTRAP_SERVERS``,
``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``, ``KAFKA_SSL_*``: librdkafka's property names in
capitals, as Confluent's images and most Kafka tooling spell them), configures all of them:
confluent-kafka producers, consumers and admin clients through :meth:`KafkaConnection.client_config`,
and the Faust worker's aiokafka clients through :meth:`KafkaConnection.faust_credentials`.

Supported: ``PLAINTEXT``; ``SSL`` with a CA file and optionally a client certificate (mTLS);
``SASL_SSL`` and ``SASL_PLAINTEXT`` with ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``.
Passwords are :class:`~pydantic.SecretStr`: a connection prints as its servers and protocol only.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import faust
from pydantic import SecretStr

from hubsync.errors import ConfigurationError
from hubsync.settings import MissingSettingError, Settings


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


class KafkaSecurityError(ConfigurationError, ValueError):
    """The Kafka security settings contradict each other or name files that cannot be read."""


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """Where the cluster is and how to authenticate to it; validated when made."""

    bootstrap_servers: str
    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = field(default=None, repr=False)
    #: PEM file of the CA(s) that signed the brokers' certificates (default: the system's CAs)
    ssl_ca_location: Path | None = None
    #: PEM client certificate and key, for brokers that authenticate clients by certificate
    ssl_certificate_location: Path | None = None
    ssl_key_location: Path | None = None
    ssl_key_password: SecretStr | None = field(default=None, repr=False)
    #: check that the broker's certificate names the host connected to (``https``) or not
    ssl_endpoint_identification: bool = True

    def __post_init__(self) -> None:
        if not self.bootstrap_servers.strip():
            raise KafkaSecurityError("KAFKA_BOOTSTRAP_SERVERS is empty")
        if self.uses_sasl:
            missing = [
                name
                for name, value in (
                    ("KAFKA_SASL_MECHANISM", self.sasl_mechanism),
                    ("KAFKA_SASL_USERNAME", self.sasl_username),
                    ("KAFKA_SASL_PASSWORD", self.sasl_password),
                )
                if not value
            ]
            if missing:
                raise KafkaSecurityError(
                    f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs {', '.join(missing)}"
                )
        elif self.sasl_mechanism or self.sasl_username or self.sasl_password:
            raise KafkaSecurityError(
                f"KAFKA_SASL_* is set but KAFKA_SECURITY_PROTOCOL={self.security_protocol} does not use "
                "SASL: set it to SASL_SSL (or SASL_PLAINTEXT), or unset the SASL settings"
            )
        files = {
            "KAFKA_SSL_CA_LOCATION": self.ssl_ca_location,
            "KAFKA_SSL_CERTIFICATE_LOCATION": self.ssl_certificate_location,
            "KAFKA_SSL_KEY_LOCATION": self.ssl_key_location,
        }
        given = [name for name, path in files.items() if path is not None]
        if given and not self.uses_tls:
            raise KafkaSecurityError(
                f"{', '.join(given)} set but KAFKA_SECURITY_PROTOCOL={self.security_protocol} does not use "
                "TLS: set it to SSL or SASL_SSL"
            )
        if (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            raise KafkaSecurityError(
                "a client certificate needs both KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION"
            )
        for name, path in files.items():
            if path is not None and not path.is_file():
                raise KafkaSecurityError(f"{name}={path} is not a readable file")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in (SecurityProtocol.SASL_SSL, SecurityProtocol.SASL_PLAINTEXT)

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)

    def __str__(self) -> str:
        """Servers, protocol and user: what a log line or an error may say (never a password)."""
        text = self.bootstrap_servers
        if self.security_protocol is not SecurityProtocol.PLAINTEXT:
            text += f" ({self.security_protocol}"
            if self.uses_sasl:
                text += f" {self.sasl_mechanism} as {self.sasl_username}"
            elif self.ssl_certificate_location is not None:
                text += " with a client certificate"
            text += ")"
        return text

    def client_config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka properties for a confluent-kafka Producer, Consumer or AdminClient."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": str(self.security_protocol),
        }
        if self.uses_sasl:
            assert self.sasl_password is not None  # checked in __post_init__
            config["sasl.mechanism"] = str(self.sasl_mechanism)
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self.sasl_password.get_secret_value()
        if self.uses_tls:
            config["ssl.endpoint.identification.algorithm"] = (
                "https" if self.ssl_endpoint_identification else "none"
            )
            if self.ssl_ca_location is not None:
                config["ssl.ca.location"] = str(self.ssl_ca_location)
            if self.ssl_certificate_location is not None:
                config["ssl.certificate.location"] = str(self.ssl_certificate_location)
                config["ssl.key.location"] = str(self.ssl_key_location)
            if self.ssl_key_password is not None:
                config["ssl.key.password"] = self.ssl_key_password.get_secret_value()
        config.update(extra)
        return config

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of the aiokafka clients: the same CA, client certificate and host check."""
        context = ssl.create_default_context(
            cafile=None if self.ssl_ca_location is None else str(self.ssl_ca_location)
        )
        context.check_hostname = self.ssl_endpoint_identification
        if self.ssl_certificate_location is not None:
            context.load_cert_chain(
                str(self.ssl_certificate_location),
                str(self.ssl_key_location),
                password=None if self.ssl_key_password is None else self.ssl_key_password.get_secret_value(),
            )
        return context

    def faust_brokers(self) -> list[str]:
        return [f"kafka://{host.strip()}" for host in self.bootstrap_servers.split(",") if host.strip()]

    def faust_credentials(self) -> faust.types.auth.CredentialsT | None:
        """The Faust worker's ``broker_credentials`` (None for PLAINTEXT)."""
        context = self.ssl_context() if self.uses_tls else None
        if self.uses_sasl:
            assert self.sasl_password is not None
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password.get_secret_value(),
                ssl_context=context,
                mechanism=str(self.sasl_mechanism),
            )
        if context is not None:
            return faust.SSLCredentials(context)
        return None


def kafka_connection(settings: Settings) -> KafkaConnection:
    """The settings' connection; :class:`MissingSettingError` without bootstrap servers."""
    if not settings.kafka_bootstrap_servers:
        raise MissingSettingError(
            "KAFKA_BOOTSTRAP_SERVERS", "set it, or start the embedded stack with `hubsync dev up`"
        )
    return KafkaConnection(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        security_protocol=SecurityProtocol(settings.kafka_security_protocol),
        sasl_mechanism=None
        if settings.kafka_sasl_mechanism is None
        else SaslMechanism(settings.kafka_sasl_mechanism),
        sasl_username=settings.kafka_sasl_username,
        sasl_password=settings.kafka_sasl_password,
        ssl_ca_location=settings.kafka_ssl_ca_location,
        ssl_certificate_location=settings.kafka_ssl_certificate_location,
        ssl_key_location=settings.kafka_ssl_key_location,
        ssl_key_password=settings.kafka_ssl_key_password,
        ssl_endpoint_identification=settings.kafka_ssl_endpoint_identification_algorithm == "https",
    )


def as_connection(target: KafkaConnection | str) -> KafkaConnection:
    """A connection from a connection or a bare bootstrap list (which means ``PLAINTEXT``)."""
    return target if isinstance(target, KafkaConnection) else KafkaConnection(target)
