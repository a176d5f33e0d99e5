"""The Apache Kafka jars, the JVM command lines that run them, and the broker version check.

The jars come from Maven Central through ``kafka-pom.xml`` and are cached per Kafka version under
``$HUBSYNC_CACHE_DIR/kafka/<version>/libs``. Besides the jars the cache holds an AppCDS archive
(a dump of the classes the broker loads, created when a broker first shuts down cleanly and
memory-mapped by later JVMs), which roughly halves the time a JVM takes to start the broker.
Set ``HUBSYNC_KAFKA_CDS=0`` to run without it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from hubsync._runtime.errors import ServiceError

T = TypeVar("T")

__all__ = [
    "KAFKA_VERSION",
    "POM_PATH",
    "KafkaServerError",
    "broker_software_version",
    "cds_archive",
    "fetch_jars",
    "java_command",
    "kafka_release",
]

#: Apache Kafka release the tests run against; keep in step with <kafka.version> in the pom.
KAFKA_VERSION = "4.4.0"
POM_PATH = Path(__file__).with_name("kafka-pom.xml")
_MARKER = ".complete"
_JVM_FLAGS = (
    # Measured on a 2-core machine: serial GC and C1-only compilation start the broker a little
    # faster than the defaults (G1, tiered C2); a test broker never runs long enough to profit
    # from C2.
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)


class KafkaServerError(ServiceError):
    """The Kafka jars could not be fetched, or a broker or Kafka tool failed."""


#: starts tried when the ports picked for a broker were taken before it bound them
PORT_RACE_ATTEMPTS = 3


def on_fresh_ports(start: Callable[[], T], *, attempts: int = PORT_RACE_ATTEMPTS) -> T:
    """``start()``, again (it picks new ports) when it failed because a port it picked was taken
    between the pick and the bind ("Address already in use"); any other failure is raised at once.
    ``start`` cleans up after itself when it fails."""
    for attempt in range(1, attempts + 1):
        try:
            return start()
        except KafkaServerError as error:
            if attempt == attempts or "Address already in use" not in str(error):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def cache_root() -> Path:
    """``$HUBSYNC_CACHE_DIR`` or ``~/.cache/hubsync``: where downloaded test artefacts live."""
    configured = os.environ.get("HUBSYNC_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "hubsync"


def kafka_home(version: str = KAFKA_VERSION) -> Path:
    return cache_root() / "kafka" / version


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise concurrent downloads (parallel CI jobs, pytest-xdist workers)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fetch_jars(version: str = KAFKA_VERSION, *, quiet: bool = False) -> Path:
    """Return the directory of the Kafka ``version`` runtime jars, downloading them once.

    Runs ``mvn dependency:copy-dependencies`` on ``kafka-pom.xml`` into a scratch directory and
    moves it into place; the marker file that makes later calls skip Maven is written only after
    that succeeded, so an interrupted download is simply redone.
    """
    home = kafka_home(version)
    libs = home / "libs"
    if (home / _MARKER).is_file():
        return libs
    with _locked(home):
        if (home / _MARKER).is_file():  # another process finished it while we waited
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaServerError("Maven ('mvn') is needed to download the Apache Kafka jars")
        scratch = home / f"libs.partial-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        command = [
            mvn, "-q", "-B", "-f", str(POM_PATH), "dependency:copy-dependencies",
            f"-DoutputDirectory={scratch}", f"-Dkafka.version={version}",
        ]  # fmt: skip
        if not quiet:
            print(f"hubsync: downloading Apache Kafka {version} jars with Maven...", file=sys.stderr)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not any(scratch.glob("kafka_2.13-*.jar")):
            shutil.rmtree(scratch, ignore_errors=True)
            raise KafkaServerError(
                f"downloading Apache Kafka {version} failed (exit {result.returncode}): "
                f"{' '.join(command)}\n{result.stdout}{result.stderr}"
            )
        shutil.rmtree(libs, ignore_errors=True)
        scratch.rename(libs)
        (home / _MARKER).write_text(f"{version}\n")
    return libs


def java_executable() -> str:
    """``$JAVA_HOME/bin/java`` if set, else ``java`` from PATH (Kafka 4 brokers need Java 17+)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise KafkaServerError("no Java runtime found: set JAVA_HOME or put 'java' (17+) on PATH")
    return java


def cds_archive(libs: Path) -> Path | None:
    """Path of the AppCDS archive for this JVM build and classpath; None if disabled.

    The archive is only valid for the exact JVM build, base CDS archive and jars it was made
    with, and the JVM silently ignores a mismatched one. So its name carries a fingerprint of
    all three, and a JDK update or new jars simply lead to a new archive.
    """
    if os.environ.get("HUBSYNC_KAFKA_CDS", "1") == "0":
        return None
    java = Path(java_executable()).resolve()
    parts = [str(java), *_JVM_FLAGS]
    server_dir = java.parent.parent / "lib" / "server"
    for path in [server_dir / "libjvm.so", server_dir / "classes.jsa", *sorted(libs.glob("*.jar"))]:
        with contextlib.suppress(OSError):
            stat = path.stat()
            parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return libs.parent / f"cds-{digest}.jsa"


def java_command(
    libs: Path,
    main_class: str,
    args: Sequence[str],
    *,
    heap: str = "256m",
    jvm_args: Sequence[str] = (),
    cds: Path | None = None,
) -> list[str]:
    """``java`` command line running ``main_class`` from the cached jars.

    ``cds`` is an archive path to use when present; an absent one is not dumped here (see
    ``ApacheKafkaServer``, which creates it).
    """
    command = [java_executable(), f"-Xmx{heap}", *_JVM_FLAGS, *jvm_args]
    if cds is not None and cds.is_file():
        command.append(f"-XX:SharedArchiveFile={cds}")
    return [*command, "-cp", str(libs / "*"), main_class, *args]


_METADATA_VERSION = re.compile(
    r"^Feature:\s*metadata\.version\s.*?SupportedMaxVersion:\s*(?P<supported>\S+)"
    r".*?FinalizedVersionLevel:\s*(?P<finalized>\S+)",
    re.MULTILINE,
)
_RELEASE = re.compile(r"^(\d+)\.(\d+)-IV\d+$")


def broker_software_version(bootstrap_servers: str, *, timeout: float = 60.0) -> str:
    """The newest KRaft ``metadata.version`` the broker software supports, e.g. ``"4.4-IV2"``.

    How: Apache Kafka's own ``FeatureCommand`` (``kafka-features.sh describe``) runs from the
    cached jars against the broker. It reads the feature ranges the broker supports and the
    levels the cluster has finalized from the broker's ApiVersions response (KIP-584), and names
    the numeric ``metadata.version`` levels through the ``MetadataVersion`` table of Apache Kafka.

    Why this tells Apache Kafka apart: ``metadata.version`` versions Apache Kafka's KRaft
    metadata log. Its supported maximum is fixed by the broker software's release (Apache Kafka
    4.4 supports up to ``4.4-IVn``), and every KRaft cluster has a finalized level. Brokers that
    only speak the Kafka protocol, such as Tansu (checked by the tests), have no KRaft metadata
    log and report no such feature, so this raises :class:`KafkaServerError` for them, where
    ApiVersions ranges or Metadata answers, which look-alikes imitate, would pass. Passing it
    would take a deliberate imitation of Apache Kafka's feature levels.

    The supported maximum is returned, not the finalized level, because a cluster upgraded from
    3.x may run 4.x software at a finalized 3.9 level until an operator raises it. A broker
    newer than the jars (an unknown level) makes the tool fail: raise ``KAFKA_VERSION`` then.
    ``kafka_release()`` turns the name into the ``(major, minor)`` release.
    """
    libs = fetch_jars()
    with tempfile.NamedTemporaryFile("w", prefix="hubsync-features-", suffix=".properties") as config:
        config.write("request.timeout.ms=10000\ndefault.api.timeout.ms=20000\n")
        config.flush()
        args = ["--bootstrap-server", bootstrap_servers, "--command-config", config.name, "describe"]
        command = java_command(libs, "org.apache.kafka.tools.FeatureCommand", args, cds=cds_archive(libs))
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as error:
            raise KafkaServerError(
                f"kafka-features describe against {bootstrap_servers} timed out"
            ) from error
    match = _METADATA_VERSION.search(result.stdout)
    if result.returncode != 0 or match is None:
        raise KafkaServerError(
            f"{bootstrap_servers} reports no Apache Kafka metadata.version (kafka-features exit "
            f"{result.returncode}); is it Apache Kafka in KRaft mode?\n{result.stdout}{result.stderr}"
        )
    return match.group("supported")


def kafka_release(metadata_version: str) -> tuple[int, int]:
    """``(4, 4)`` for ``"4.4-IV2"``: the Apache Kafka feature release a metadata.version names."""
    match = _RELEASE.match(metadata_version)
    if match is None:
        raise ValueError(f"not a Kafka metadata.version name: {metadata_version!r}")
    return int(match.group(1)), int(match.group(2))
