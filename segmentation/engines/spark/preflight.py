"""Checks before the Spark engine starts or writes anything: Java, the master, the lake.

Each problem is one line saying what is wrong and what to do; all of them together stop the run
(:class:`SparkPreflightError`) before a session starts, so a missing Java is not a Py4J stack
trace, an unreachable standalone master is not a minute of Spark's own retries, and a lake that
cannot be written is not a failure after the first stage. No PySpark here: the checks run
before it is imported.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from segmentation.engines.settings import is_uri, parse_master

# Spark 4.0 runs on these; Java 23 and later stop it at start (Hadoop's login calls
# Subject.getSubject, which they no longer support), earlier ones are not supported
SUPPORTED_JAVA = (17, 21)
JAVA_PACKAGE = "openjdk-17-jre-headless"
# a master that does not answer within this is reported; Spark itself retries for a minute
CONNECT_TIMEOUT_SECONDS = 3.0
# where Debian and Ubuntu install their Java runtimes
_DEBIAN_JVMS = Path("/usr/lib/jvm")
_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')
# the client packages of pyspark[connect] (Spark Connect masters, sc://)
_CONNECT_MODULES = {
    "grpc": "grpcio",
    "grpc_status": "grpcio-status",
    "google.rpc": "googleapis-common-protos",
}


class SparkPreflightError(RuntimeError):
    """The Spark engine cannot start here; the message says why and what to do, one line per
    problem."""


@dataclass(frozen=True)
class Java:
    """A Java runtime found for Spark: the ``java`` executable and its major version."""

    executable: Path
    major: int


def shown_master(master: str) -> str:
    """``master`` as logs and messages may show it: a Spark Connect URL's parameters
    (``sc://host:port/;token=...``) can hold a credential, so they are left out."""
    return master.split("/;", 1)[0] if master.startswith("sc://") else master


def java_version(executable: Path) -> int:
    """The major version ``executable -version`` reports (8 for ``1.8.0_x``).

    Raises:
        OSError: It cannot be run, or says no version.
    """
    try:
        done = subprocess.run(
            [str(executable), "-version"], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired as error:
        raise OSError(f"{executable} -version did not answer within 30 s") from error
    found = _VERSION.search(done.stderr + done.stdout)
    if found is None:
        first = (done.stderr or done.stdout).strip().splitlines()[:1]
        raise OSError(f"{executable} -version printed no version ({' '.join(first) or 'nothing'})")
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def _other_javas() -> list[Path]:
    """Supported Java runtimes installed in Debian's folder, for the message's hint."""
    if not _DEBIAN_JVMS.is_dir():
        return []
    return sorted(
        home
        for version in SUPPORTED_JAVA
        for home in _DEBIAN_JVMS.glob(f"java-{version}-openjdk*")
        if (home / "bin" / "java").is_file()
    )


def find_java(environ: Mapping[str, str] | None = None) -> Java | str:
    """The Java Spark will start: ``$JAVA_HOME/bin/java`` when JAVA_HOME is set (as Spark's
    launcher does), else ``java`` on PATH. Returns the problem as a line of text when there is
    none, or it is not a version Spark 4.0 runs on."""
    environ = os.environ if environ is None else environ
    home = environ.get("JAVA_HOME")
    installed = _other_javas()
    hint = f" (installed here: JAVA_HOME={installed[0]})" if installed else ""
    supported = " or ".join(str(version) for version in SUPPORTED_JAVA)
    install = (
        f"install it (Debian/Ubuntu: apt-get install {JAVA_PACKAGE}; `make test` does so when "
        f"run as root)"
    )
    if home:
        executable = Path(home) / "bin" / "java"
        if not executable.is_file():
            return (
                f"java: JAVA_HOME={home} holds no bin/java: point JAVA_HOME at a Java {supported} "
                f"runtime{hint}, or unset it to use the java on PATH"
            )
    else:
        on_path = shutil.which("java", path=environ.get("PATH", ""))
        if on_path is None:
            return (
                f"java: no Java found (JAVA_HOME is not set, no java on PATH); the Spark engine "
                f"needs Java {supported}: {install}, or set JAVA_HOME to one{hint}"
            )
        executable = Path(on_path)
    try:
        major = java_version(executable)
    except OSError as error:
        return f"java: {error}: {install}, or set JAVA_HOME to a Java {supported} runtime{hint}"
    if major not in SUPPORTED_JAVA:
        return (
            f"java: {executable} is Java {major}; Spark 4.0 runs on Java {supported}: "
            f"{install} and set JAVA_HOME to it{hint}"
        )
    return Java(executable, major)


def _connect_error(host: str, port: int, timeout: float) -> str | None:
    """Why a TCP connection to ``host:port`` fails (None: it opens) within ``timeout``
    seconds, name lookup included (a lookup that hangs is cut off too)."""
    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(None)
        except TimeoutError:
            outcome.append(f"no answer within {timeout:g} s")
        except OSError as error:
            outcome.append(error.strerror or str(error) or type(error).__name__)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def master_problems(
    master: str,
    environ: Mapping[str, str] | None = None,
    timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> list[str]:
    """What keeps the session from reaching ``master``: a cluster master that does not
    answer (one answering host of a high-availability list is enough), yarn without its
    configuration folder, Spark Connect without its client packages."""
    environ = os.environ if environ is None else environ
    parsed = parse_master(master)
    if parsed.kind == "local":
        return []
    if parsed.kind == "yarn":
        folders = [environ.get(name) for name in ("HADOOP_CONF_DIR", "YARN_CONF_DIR")]
        if not any(folder and Path(folder).is_dir() for folder in folders):
            return [
                "spark.master: yarn needs HADOOP_CONF_DIR or YARN_CONF_DIR: set one to the "
                "folder holding the cluster's core-site.xml and yarn-site.xml"
            ]
        return []
    problems = []
    if parsed.kind == "connect":
        missing = [
            package for module, package in _CONNECT_MODULES.items() if not _module_available(module)
        ]
        if missing:
            problems.append(
                f"spark.master: a Spark Connect master ({shown_master(master)}) needs the "
                f"client packages of pyspark[connect], missing here: {', '.join(missing)}; "
                "install them"
            )
    errors = [
        f"{host}:{port}: {error}"
        for host, port in parsed.endpoints
        if (error := _connect_error(host, port, timeout)) is not None
    ]
    if len(errors) == len(parsed.endpoints):
        problems.append(
            f"spark.master: nothing answers at {shown_master(master)} ({'; '.join(errors)}): "
            f"start the master, or correct its host and port"
        )
    return problems


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def local_lake(lake: str) -> Path | None:
    """The folder a lake names on this machine (a path or a ``file:`` URI); None for a URI
    of another file system, which only Spark can check."""
    if not is_uri(lake):
        return Path(lake)
    parsed = urlparse(lake)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    return Path(unquote(parsed.path))


def lake_problem(lake: str) -> str | None:
    """Why the engine could not write a lake on this machine (None: it can, or the lake is
    on another file system). Leaves nothing behind: a missing lake is not created, only the
    folder that would hold it is tried with a file that is removed at once."""
    folder = local_lake(lake)
    if folder is None:
        return None
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return (
            f"spark.lake: {lake} cannot be written: {existing} is a file, not a folder; "
            f"choose another location"
        )
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".segmentation-lake-probe-"):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        where = "in it" if existing == folder else f"in {existing}, where it would be created"
        return (
            f"spark.lake: {lake} cannot be written ({reason} {where}): make it writable "
            f"for this user, or choose another location"
        )
    return None


def preflight_problems(
    master: str,
    lake: str | None,
    environ: Mapping[str, str] | None = None,
    timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> list[str]:
    """Every problem :func:`preflight` would report, one line each (empty: go ahead)."""
    problems = []
    # a Spark Connect client is pure Python: Java runs on the server
    if parse_master(master).kind != "connect":
        java = find_java(environ)
        if isinstance(java, str):
            problems.append(java)
    problems += master_problems(master, environ, timeout)
    if lake is None:
        problems.append("spark.lake: not set: name the folder or URI the engine writes to")
    elif (problem := lake_problem(lake)) is not None:
        problems.append(problem)
    return problems


def preflight(
    master: str,
    lake: str | None,
    environ: Mapping[str, str] | None = None,
    timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> None:
    """Check that a Spark session can start at ``master`` and write to ``lake``.

    Raises:
        SparkPreflightError: Listing every problem found, each with what to do.
    """
    problems = preflight_problems(master, lake, environ, timeout)
    if problems:
        lines = "\n".join(f"  {problem}" for problem in problems)
        raise SparkPreflightError(f"the Spark engine cannot start:\n{lines}")
