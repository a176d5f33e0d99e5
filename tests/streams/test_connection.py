"""KafkaConnection: the settings every Kafka client is made from, checked before anything connects."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest
from pydantic import SecretStr

from hubsync.settings import Settings
from hubsync.streams.connection import (
    KafkaConnection,
    KafkaSecurityError,
    SaslMechanism,
    SecurityProtocol,
    as_connection,
    kafka_connection,
)


def _sasl(**extra: object) -> KafkaConnection:
    return KafkaConnection(
        "b1:9093,b2:9093",
        SecurityProtocol.SASL_SSL,
        SaslMechanism.SCRAM_SHA_512,
        "hubsync",
        SecretStr("pa55word"),
        **extra,  # type: ignore[arg-type]
    )


def test_plaintext_is_the_default_and_a_bare_string_means_it() -> None:
    assert as_connection("k:9092").client_config() == {
        "bootstrap.servers": "k:9092",
        "security.protocol": "PLAINTEXT",
    }
    assert as_connection("k:9092").faust_credentials() is None
    assert as_connection("k:9092, k2:9092").faust_brokers() == ["kafka://k:9092", "kafka://k2:9092"]


def test_sasl_ssl_gives_librdkafka_and_faust_the_same_credentials(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("unused")
    connection = _sasl(ssl_ca_location=ca)
    config = connection.client_config(**{"group.id": "g"})
    assert config == {
        "bootstrap.servers": "b1:9093,b2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "hubsync",
        "sasl.password": "pa55word",
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": str(ca),
        "group.id": "g",
    }


def test_faust_gets_sasl_credentials_over_tls() -> None:
    credentials = _sasl().faust_credentials()
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.password == "pa55word"
    assert credentials.ssl_context is not None and credentials.ssl_context.check_hostname


def test_the_password_is_never_in_the_text_of_a_connection() -> None:
    connection = _sasl()
    assert "pa55word" not in str(connection) and "pa55word" not in repr(connection)
    assert str(connection) == "b1:9093,b2:9093 (SASL_SSL SCRAM-SHA-512 as hubsync)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"security_protocol": SecurityProtocol.SASL_SSL}, "needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME"),
        ({"sasl_username": "u"}, "does not use SASL"),
        ({"ssl_ca_location": Path("/nope.pem")}, "does not use TLS"),
        ({"security_protocol": SecurityProtocol.SSL, "ssl_certificate_location": Path("/c")}, "needs both"),
        (
            {"security_protocol": SecurityProtocol.SSL, "ssl_ca_location": Path("/nope.pem")},
            "not a readable file",
        ),
        ({"bootstrap_servers": " "}, "is empty"),
    ],
)
def test_contradicting_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"bootstrap_servers": "k:9092", **kwargs}
    with pytest.raises(KafkaSecurityError, match=message):
        KafkaConnection(**arguments)  # type: ignore[arg-type]


def test_settings_read_the_variable_names_operators_know(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "KAFKA_BOOTSTRAP_SERVERS": "b:9093",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "PLAIN",
        "KAFKA_SASL_USERNAME": "svc",
        "KAFKA_SASL_PASSWORD": "pw",
        "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM": "none",
    }.items():
        monkeypatch.setenv(name, value)
    connection = kafka_connection(Settings())
    assert connection.client_config()["sasl.mechanism"] == "PLAIN"
    assert connection.client_config()["ssl.endpoint.identification.algorithm"] == "none"
    assert connection.ssl_context().check_hostname is False
