"""Which Kafka principal this process is, and the aiokafka arguments that connect as it.

Every producer, consumer and admin client of fleetstate (and of a service using its clients) is
built from `kafka_options(bootstrap)`, so how the process authenticates is decided here alone,
from the environment, read once:

    FLEETSTATE_KAFKA_SECURITY_PROTOCOL  PLAINTEXT (default: the dev stack), SASL_SSL, or SSL
    FLEETSTATE_KAFKA_SASL_MECHANISM     SCRAM-SHA-512 (default), SCRAM-SHA-256 or PLAIN
    FLEETSTATE_KAFKA_USERNAME           the principal's name (SASL_SSL)
    FLEETSTATE_KAFKA_PASSWORD           its password, or
    FLEETSTATE_KAFKA_PASSWORD_FILE      a file holding it (a mounted secret)
    FLEETSTATE_KAFKA_CA_FILE            the PEM CA that signed the broker's certificate

TLS always checks the broker's certificate against that CA and its name against the host
dialled. A client that must connect as another principal than its process (a test, a tool)
passes its own `KafkaSecurity`.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiokafka.helpers import create_ssl_context

PROTOCOL = "FLEETSTATE_KAFKA_SECURITY_PROTOCOL"
MECHANISM = "FLEETSTATE_KAFKA_SASL_MECHANISM"
USERNAME = "FLEETSTATE_KAFKA_USERNAME"
PASSWORD = "FLEETSTATE_KAFKA_PASSWORD"
PASSWORD_FILE = "FLEETSTATE_KAFKA_PASSWORD_FILE"
CA_FILE = "FLEETSTATE_KAFKA_CA_FILE"

PROTOCOLS = ("PLAINTEXT", "SASL_SSL", "SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


class KafkaSecurityError(ValueError):
    """The Kafka security settings are incomplete or wrong; the message names the variable."""


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise KafkaSecurityError(
                f"{PROTOCOL} is {self.protocol!r}: must be one of {', '.join(PROTOCOLS)}"
            )
        if self.protocol == "PLAINTEXT":
            return
        if not self.ca_file:
            raise KafkaSecurityError(f"{PROTOCOL}={self.protocol} needs {CA_FILE}")
        if not Path(self.ca_file).is_file():
            raise KafkaSecurityError(f"{CA_FILE}: no such file: {self.ca_file}")
        if self.protocol == "SASL_SSL":
            if self.mechanism not in MECHANISMS:
                raise KafkaSecurityError(
                    f"{MECHANISM} is {self.mechanism!r}: must be one of {', '.join(MECHANISMS)}"
                )
            if not self.username:
                raise KafkaSecurityError(f"{PROTOCOL}=SASL_SSL needs {USERNAME}")
            if not self.password:
                raise KafkaSecurityError(f"{PROTOCOL}=SASL_SSL needs {PASSWORD} or {PASSWORD_FILE}")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> KafkaSecurity:
        environ = os.environ if environ is None else environ
        password = environ.get(PASSWORD) or None
        if environ.get(PASSWORD_FILE):
            if password:
                raise KafkaSecurityError(f"set {PASSWORD} or {PASSWORD_FILE}, not both")
            try:
                # A secret file usually ends with a newline that is not part of the password.
                password = Path(environ[PASSWORD_FILE]).read_text().rstrip("\r\n")
            except OSError as exc:
                raise KafkaSecurityError(f"{PASSWORD_FILE}: {exc}") from None
        return cls(
            protocol=environ.get(PROTOCOL) or "PLAINTEXT",
            mechanism=environ.get(MECHANISM) or "SCRAM-SHA-512",
            username=environ.get(USERNAME) or None,
            password=password,
            ca_file=environ.get(CA_FILE) or None,
        )

    @functools.cached_property
    def ssl_context(self) -> ssl.SSLContext:
        # One context for all of the process's clients: the CA is read once.
        return create_ssl_context(cafile=self.ca_file)

    def options(self) -> dict:
        """The aiokafka keyword arguments (besides bootstrap_servers) for this principal."""
        if self.protocol == "PLAINTEXT":
            return {}
        options = {"security_protocol": self.protocol, "ssl_context": self.ssl_context}
        if self.protocol == "SASL_SSL":
            options.update(
                sasl_mechanism=self.mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password,
            )
        return options

    def __repr__(self) -> str:  # never the password, in a log line or a traceback
        return f"KafkaSecurity({self.protocol}, {self.mechanism}, user={self.username!r})"


@functools.cache
def process_security() -> KafkaSecurity:
    """This process's principal, from its environment (read on first use, then kept)."""
    return KafkaSecurity.from_environment()


def kafka_options(bootstrap: str, security: KafkaSecurity | None = None) -> dict:
    """bootstrap_servers and the security arguments of an aiokafka producer, consumer or admin
    client: `AIOKafkaProducer(**kafka_options(bootstrap), acks="all")`."""
    security = process_security() if security is None else security
    return {"bootstrap_servers": bootstrap, **security.options()}
