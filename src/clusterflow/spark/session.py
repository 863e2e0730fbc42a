"""A quiet local SparkSession for tests, the local cloud and the benchmark (Glue and EMR bring their own)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from pyspark.sql import SparkSession

# Only errors reach the terminal: Spark's INFO/WARN lines would drown the CLI's own output.
_QUIET_LOG4J2 = """\
status = error
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
logger.parquet.name = org.apache.parquet
logger.parquet.level = error
# A failed task's stack trace reaches the caller inside the exception; logging it too floods the terminal.
# PySpark counts as a shell: without its own level for the REPL logger Spark resets the root to WARN.
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
logger.submit.name = org.apache.spark.deploy.SparkSubmit
logger.submit.level = error
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
logger.executor.name = org.apache.spark.executor.Executor
logger.executor.level = off
logger.tasksets.name = org.apache.spark.scheduler.TaskSetManager
logger.tasksets.level = off
logger.arrowrunner.name = org.apache.spark.sql.execution.python.ArrowPythonRunner
logger.arrowrunner.level = off
logger.pythonrunner.name = org.apache.spark.api.python.PythonRunner
logger.pythonrunner.level = off
"""


def _quiet_log4j_file() -> Path:
    path = Path(tempfile.gettempdir()) / "clusterflow-spark-log4j2.properties"
    if not path.exists() or path.read_text() != _QUIET_LOG4J2:
        # Parallel test workers may start JVMs at once: each sees a whole file, never a half-written one.
        partial = path.with_name(f"{path.name}.{os.getpid()}")
        partial.write_text(_QUIET_LOG4J2)
        os.replace(partial, path)
    return path


def local_session(
    app_name: str = "clusterflow", cores: int = 2, shuffle_partitions: int = 4, quick_start: bool = False
) -> SparkSession:
    """Get (or create) a `local[cores]` session with no UI, no progress bar and error-only logging.

    `quick_start` suits tests on tiny data. Settings apply only when no session is running yet.

    Python workers run this interpreter, so they see the same installed packages as the driver.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    java_options = f"-Dlog4j2.configurationFile=file:{_quiet_log4j_file()}"
    if quick_start:
        # The JIT's first tier only: tiny jobs finish sooner, large ones run slower.
        java_options += " -XX:TieredStopAtLevel=1"
    return (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
