"""An Apache Kafka broker with the listeners production clusters have: SASL_SSL and SSL (mTLS),
behind the StandardAuthorizer, for the tests of hubsync's Kafka security settings.

* a CA, the broker's certificate (for ``127.0.0.1`` and ``localhost``) and client certificates
  are made with ``openssl`` in the server's directory (:class:`TestCertificates`);
* ``SASL_SSL`` (and ``SASL_PLAINTEXT``) accept ``SCRAM-SHA-512`` and ``SCRAM-SHA-256`` users
  (created when the storage is formatted, as ``kafka-storage format --add-scram`` does for a new
  cluster) and ``PLAIN`` users (JAAS);
* ``SSL`` requires a client certificate; the principal is the certificate's CN (``User:<CN>``);
* ``allow.everyone.if.no.acl.found=false``: a principal may do only what an ACL grants it. The
  ``admin`` SCRAM user and the broker's own PLAINTEXT listener (the inter-broker and controller
  traffic, ``User:ANONYMOUS``) are super users.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubsync._runtime.processes import free_port
from hubsync.testing._kafka_jvm import KafkaServerError
from hubsync.testing.kafka_server import ApacheKafkaServer

_HOST = "127.0.0.1"
ADMIN_USER = "admin"


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise KafkaServerError(f"openssl {' '.join(args)} failed: {result.stderr}")


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    certificate: Path
    key: Path


class TestCertificates:
    """A throw-away CA in ``directory`` that signs the broker's and clients' certificates."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.ca = directory / "ca.pem"
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=hubsync-test-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=directory,
        )  # fmt: skip
        broker = self.issue("localhost", san="IP:127.0.0.1,DNS:localhost")
        #: the broker's PEM keystore: its unencrypted PKCS#8 key followed by its certificate
        self.broker_keystore = directory / "broker-keystore.pem"
        self.broker_keystore.write_text(broker.key.read_text() + broker.certificate.read_text())

    def issue(self, common_name: str, *, san: str | None = None) -> ClientCertificate:
        """A key and a certificate for ``common_name``, signed by the CA."""
        stem = common_name.replace("/", "_")
        extensions = self.directory / f"{stem}.ext"
        lines = ["basicConstraints=CA:FALSE", "authorityKeyIdentifier=keyid,issuer"]
        if san:
            lines.append(f"subjectAltName={san}")
        extensions.write_text("\n".join(lines) + "\n")
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={common_name}",
            "-keyout", f"{stem}.key", "-out", f"{stem}.csr", cwd=self.directory,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", extensions.name, "-out", f"{stem}.pem", cwd=self.directory,
        )  # fmt: skip
        return ClientCertificate(self.directory / f"{stem}.pem", self.directory / f"{stem}.key")


class SecureKafkaServer(ApacheKafkaServer):
    """``with SecureKafkaServer(scram_users={...}, plain_users={...}) as kafka: ...``.

    ``kafka.sasl_ssl_bootstrap`` and ``kafka.ssl_bootstrap`` are the secured listeners,
    ``kafka.certificates`` the CA that signed the broker (``issue()`` makes client certificates).
    ``bootstrap_servers`` stays the PLAINTEXT listener, which is a super user: for the test's own
    set-up, never for the component under test.
    """

    def __init__(
        self,
        *,
        scram_users: Mapping[str, str] | None = None,
        plain_users: Mapping[str, str] | None = None,
        admin_password: str = "admin-secret",  # noqa: S107 - a throw-away test broker's
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.admin_password = admin_password
        self.scram_users = {ADMIN_USER: admin_password, **(scram_users or {})}
        self.plain_users = dict(plain_users or {})
        self.sasl_port: int | None = None
        self.ssl_port: int | None = None
        self.sasl_plaintext_port: int | None = None
        self._certificates: TestCertificates | None = None

    @property
    def certificates(self) -> TestCertificates:
        if self._certificates is None:
            raise KafkaServerError("the Kafka server is not started")
        return self._certificates

    @property
    def sasl_ssl_bootstrap(self) -> str:
        return f"{_HOST}:{self.sasl_port}"

    @property
    def ssl_bootstrap(self) -> str:
        return f"{_HOST}:{self.ssl_port}"

    @property
    def sasl_plaintext_bootstrap(self) -> str:
        return f"{_HOST}:{self.sasl_plaintext_port}"

    def _launch(self, libs: Path) -> None:
        assert self.work_dir is not None
        if self._certificates is None:
            self._certificates = TestCertificates(self.work_dir / "tls")
        self.sasl_port, self.ssl_port = free_port(_HOST), free_port(_HOST)
        self.sasl_plaintext_port = free_port(_HOST)
        super()._launch(libs)

    def _format_args(self) -> list[str]:
        args: list[str] = []
        for user, password in self.scram_users.items():
            for mechanism in ("SCRAM-SHA-512", "SCRAM-SHA-256"):
                args += ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
        return args

    def _config(self, data_dir: Path) -> dict[str, str]:
        config = super()._config(data_dir)
        plaintext = f"PLAINTEXT://{_HOST}:{self.port}"
        secured = (
            f"SASL_SSL://{_HOST}:{self.sasl_port},SSL://{_HOST}:{self.ssl_port},"
            f"SASL_PLAINTEXT://{_HOST}:{self.sasl_plaintext_port}"
        )
        plain_users = " ".join(f'user_{u}="{p}"' for u, p in self.plain_users.items())
        certificates = self.certificates
        config.update(
            {
                "listeners": f"{plaintext},{secured},CONTROLLER://{_HOST}:{self.controller_port}",
                "advertised.listeners": f"{plaintext},{secured}",
                "listener.security.protocol.map": (
                    "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,"
                    "SASL_PLAINTEXT:SASL_PLAINTEXT"
                ),
                "sasl.enabled.mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN",
                **{
                    f"listener.name.{listener}.{mechanism}.sasl.jaas.config": (
                        "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                    )
                    for listener in ("sasl_ssl", "sasl_plaintext")
                    for mechanism in ("scram-sha-512", "scram-sha-256")
                },
                "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
                    f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
                ),
                "listener.name.sasl_ssl.plain.sasl.jaas.config": (
                    f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
                ),
                "ssl.keystore.type": "PEM",
                "ssl.keystore.location": str(certificates.broker_keystore),
                "ssl.truststore.type": "PEM",
                "ssl.truststore.location": str(certificates.ca),
                "listener.name.ssl.ssl.client.auth": "required",
                "ssl.principal.mapping.rules": "RULE:^CN=([^,]+)$/$1/,DEFAULT",
                "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                "allow.everyone.if.no.acl.found": "false",
                "super.users": f"User:ANONYMOUS;User:{ADMIN_USER}",
                "auto.create.topics.enable": "false",
            }
        )
        config.update(self.properties)
        return config
