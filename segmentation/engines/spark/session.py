"""The Spark session of the engine: its settings, and starting it once the preflight passed.

:func:`spark_conf` is the whole session configuration, for :func:`start_session` and for the
Dagster resource (``assets.spark``) alike. PySpark is imported when a session starts, not
before.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from segmentation.engines.settings import SparkSettings, conf_text, parse_master
from segmentation.engines.spark.connect import is_connect
from segmentation.engines.spark.preflight import (
    SparkPreflightError,
    local_lake,
    preflight,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

APP_NAME = "customer-segmentation"
LOOPBACK = "127.0.0.1"
# The engine's own settings; `spark.conf` may override any but the master and the time zone
# (refused when the config loads).
ENGINE_CONF = {
    "spark.app.name": APP_NAME,
    # the pipeline's timestamps are UTC without a zone
    "spark.sql.session.timeZone": "UTC",
    # and are read from Parquet as such (TIMESTAMP_NTZ): Spark's default, stated
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    # a progress bar on stderr garbles the run's log
    "spark.ui.showConsoleProgress": "false",
}


def spark_conf(settings: SparkSettings) -> dict[str, str]:
    """The session's configuration: the engine's settings, then ``spark.conf``'s, then the
    master (``spark.remote`` for a Spark Connect URL)."""
    engine = dict(ENGINE_CONF)
    connect = parse_master(settings.master).kind == "connect"
    if connect:
        # the server's own setting, which a client cannot change (Spark warns at every start)
        del engine["spark.ui.showConsoleProgress"]
    conf = {**engine, **{key: conf_text(value) for key, value in settings.conf.items()}}
    if connect:
        conf["spark.remote"] = settings.master
    else:
        conf["spark.master"] = settings.master
    return conf


def master_of(conf: dict[str, str]) -> str:
    """The master a session configuration names (``spark.remote`` or ``spark.master``)."""
    return conf.get("spark.remote") or conf.get("spark.master") or "local[*]"


# the executors' Python interpreter (Spark's setting; see prepare)
WORKER_PYTHON = "spark.pyspark.python"
# PySpark's builder sets it for the whole process once it created a Spark Connect session
CONNECT_MODE_VARIABLE = "SPARK_CONNECT_MODE_ENABLED"


def active_session(conf: dict[str, str]) -> bool:
    """Whether a session of the kind ``conf``'s master names (classic, or Spark Connect) is
    already active in this process: the builder returns it rather than start one."""
    if parse_master(master_of(conf)).kind == "connect":
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        return ConnectSession.getActiveSession() is not None
    from pyspark.sql import SparkSession

    if os.environ.get(CONNECT_MODE_VARIABLE):
        # a Connect session left the process in Connect mode: the classic session's own state
        from pyspark.sql.session import SparkSession as ClassicSession

        return ClassicSession._activeSession is not None
    return SparkSession.getActiveSession() is not None


def stop_session(spark: SparkSession, connect_mode_before: bool) -> None:
    """Stop a session the engine started. After a Spark Connect session, the process leaves
    Connect mode unless it was in it before (``connect_mode_before``): PySpark's builder sends
    every later session of the process to Spark Connect otherwise, a classic master included."""
    spark.stop()
    if is_connect(spark) and not connect_mode_before:
        os.environ.pop(CONNECT_MODE_VARIABLE, None)


def prepare(conf: dict[str, str], lake: str | None) -> None:
    """What has to happen before a session starts: the preflight (Java, the master, a lake on
    this machine), and, for a local master, the Python workers run this interpreter.

    PySpark starts its workers with ``$PYSPARK_PYTHON`` (default ``python3``, which may lack
    this environment's packages). Spark's ``spark.pyspark.python`` setting names the workers'
    interpreter, but only ``spark-submit`` turns it into that variable: a session started in
    this process (the Dagster run's) would ignore it and start ``python3`` on every executor,
    so the setting, when given, becomes the variable here. Without it, a local master's
    workers run this interpreter, and a variable already set is left as it is. For a cluster
    master, a ``SPARK_LOCAL_IP`` of 127.0.0.1 is dropped: the executors must reach the driver.

    Raises:
        SparkPreflightError: See :func:`~segmentation.engines.spark.preflight.preflight`.
    """
    master = master_of(conf)
    preflight(master, lake)
    if WORKER_PYTHON in conf:
        os.environ["PYSPARK_PYTHON"] = str(conf[WORKER_PYTHON])
    elif parse_master(master).kind == "local":
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    elif os.environ.get("SPARK_LOCAL_IP") == LOOPBACK:
        # pandera sets it on import whenever PySpark is installed; a driver announcing the
        # loopback address is one a cluster's executors cannot reach
        del os.environ["SPARK_LOCAL_IP"]


def check_lake(spark: SparkSession, lake: str | None) -> None:
    """The lake can be written by the session. A lake that only Spark reaches (``s3a://``,
    ``abfss://``, ``hdfs://``...) in a classic session: a file is created in it through Spark's
    Hadoop file system and removed (a lake on this machine was checked before the session
    started). Under Spark Connect, where the server writes the rows and this process moves the
    folders (:class:`~segmentation.engines.spark.lake_commit.ArrowLakeFiles`), both must reach
    the same lake: the server writes an empty probe table there, which this process must see and
    removes.

    Raises:
        SparkPreflightError: The lake cannot be created or written, with the file system's
            reason.
    """
    if lake is None:
        return
    if is_connect(spark):
        _check_connect_lake(spark, lake)
        return
    if local_lake(lake) is not None:
        return
    jvm = spark._jvm
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    probe = jvm.org.apache.hadoop.fs.Path(f"{lake.rstrip('/')}/.segmentation-probe-{uuid.uuid4()}")
    try:
        file_system = probe.getFileSystem(hadoop)
        file_system.create(probe, False).close()
        file_system.delete(probe, False)
    except Exception as error:  # Py4J carries any Java exception; its first line says why
        raise SparkPreflightError(
            f"the Spark engine cannot start:\n  spark.lake: {lake} cannot be written through "
            f"Spark ({_first_line(error)}): check the path and the credentials in spark.conf"
        ) from None


def _check_connect_lake(spark: SparkSession, lake: str) -> None:
    from segmentation.engines.spark.lake_commit import ArrowLakeFiles

    probe = f"{lake.rstrip('/')}/_segmentation-probe-{uuid.uuid4().hex}"
    try:
        files = ArrowLakeFiles(probe)
        files.exists(probe)
    except Exception as error:  # PyArrow's errors name the file system's reason
        raise SparkPreflightError(
            f"the Spark engine cannot start:\n  spark.lake: {lake} cannot be reached from this "
            f"process ({_first_line(error)}), which moves the lake's folders under Spark "
            f"Connect: give it the same access as the server (a shared path, or the object "
            f"store's credentials)"
        ) from None
    try:
        spark.range(0).write.parquet(probe)
    except Exception as error:  # the server's error, as Spark Connect relays it
        raise SparkPreflightError(
            f"the Spark engine cannot start:\n  spark.lake: {lake} cannot be written by the "
            f"Spark Connect server ({_first_line(error)}): check the path and the credentials "
            f"in spark.conf"
        ) from None
    try:
        seen = files.exists(probe)
    finally:
        with contextlib.suppress(Exception):
            files.remove(probe)
    if not seen:
        raise SparkPreflightError(
            f"the Spark engine cannot start:\n  spark.lake: {lake} is not the same place for "
            f"this process and the Spark Connect server (a folder the server wrote is not "
            f"here): put the lake on storage both reach at the same path or URL"
        )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else repr(error)


@contextmanager
def java_started_without_fork() -> Iterator[None]:
    """PySpark starts Java in its own process group instead of through a ``preexec_fn``.

    PySpark's launcher runs a ``preexec_fn`` in the child (to ignore Ctrl-C), which makes
    Python fork the whole process. With Linux's default overcommit heuristic, a fork fails
    (``[Errno 12] Cannot allocate memory``) once the process holds more address space than the
    machine has memory, which one DuckDB behaviour query is enough for (its reservations reach
    hundreds of GiB of untouched virtual memory). Without the ``preexec_fn`` Python spawns the
    child without copying the process; its own process group keeps the terminal's Ctrl-C from
    reaching Java, as the ``preexec_fn`` did.
    """
    from pyspark import java_gateway

    launch = java_gateway.Popen

    def spawn(command: list[str], **kwargs: Any) -> Any:
        if kwargs.pop("preexec_fn", None) is not None:
            kwargs["process_group"] = 0
        return launch(command, **kwargs)

    java_gateway.Popen = spawn
    try:
        yield
    finally:
        java_gateway.Popen = launch


def build_session(conf: dict[str, str]) -> SparkSession:
    """The session ``conf`` names (an active one of its kind in this process is reused): PySpark's
    builder for a classic master, Java started without a fork; PySpark's Spark Connect builder
    for a Spark Connect URL (``spark.remote``).

    The Connect builder is called directly because PySpark's generic one refuses a Connect
    session in a process that runs a classic one (``SESSION_ALREADY_EXIST``: a notebook's, or
    the tests'); the two do not share anything. The process is put in Connect mode as the
    generic builder would: PySpark's functions build Connect plans from then on
    (:func:`stop_session` leaves it again).
    """
    if parse_master(master_of(conf)).kind == "connect":
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        os.environ[CONNECT_MODE_VARIABLE] = "1"
        return ConnectSession.builder.config(map=dict(conf)).getOrCreate()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    with java_started_without_fork():
        return builder.getOrCreate()


def start_session(settings: SparkSettings) -> SparkSession:
    """A Spark session for ``settings`` (an active one in this process is reused, as PySpark
    does), after the preflight; the lake is checked too.

    Raises:
        SparkPreflightError: Java, the master or the lake is not usable, with what to do.
    """
    conf = spark_conf(settings)
    prepare(conf, settings.lake)
    spark = build_session(conf)
    check_lake(spark, settings.lake)
    return spark
