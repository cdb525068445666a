"""The Spark session of ``kedro run --env spark``: local by default, a cluster by configuration.

``conf/<env>/spark.yml`` holds Spark's own settings (``spark.master``, memory, ...). A cluster is
configuration only: ``spark.master: spark://host:7077`` (or ``yarn``, ``k8s://...``) in
``conf/local/spark.yml``, or ``SPARK_REMOTE=sc://host:15002`` in the environment for Spark Connect
(then no local Java is needed). The session is built once, before the catalog loads anything, and
kedro-datasets' Spark datasets pick it up (``SparkSession.builder.getOrCreate``).
"""

from __future__ import annotations

import os
import shutil
import warnings
from typing import Any

from music_recommender.errors import UserError

# pyspark 4.x warns on every conversion that it "does not yet fully support pandas >= 3"; the
# conversions used here (ids, counts, samples) are covered by tests/pipelines/preprocessing/
# test_spark.py, so the notice is not for the user of a run.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)

JAVA_HINT = (
    "Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17"
)


class SparkSetupError(UserError, RuntimeError):
    """Spark cannot start here (no pyspark, no Java); the message says what to install."""


def _remote(settings: dict[str, Any]) -> str | None:
    return os.environ.get("SPARK_REMOTE") or settings.get("spark.remote")


def java_available() -> bool:
    """Whether a local Spark could start: ``java`` on PATH or under ``JAVA_HOME``."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return True
    return shutil.which("java") is not None


def check_requirements(settings: dict[str, Any]) -> None:
    """Stop with one line naming what to install when Spark cannot start."""
    try:
        import pyspark  # noqa: F401, PLC0415
    except ImportError as error:
        raise SparkSetupError(
            "this environment runs preprocessing on Spark, and pyspark is not installed: "
            "make install SPARK=1 (or pip install -e '.[spark]')"
        ) from error
    if not _remote(settings) and not java_available():
        raise SparkSetupError(
            "Spark needs Java 17 or newer and none was found (no java on PATH, JAVA_HOME unset): "
            f"install a JRE ({JAVA_HINT}), or set SPARK_REMOTE to a Spark Connect server"
        )


def start(settings: dict[str, Any], app_name: str) -> Any:
    """The session for ``settings`` (``spark.yml``), created once per process."""
    check_requirements(settings)
    from pyspark.sql import SparkSession  # noqa: PLC0415

    builder = SparkSession.builder.appName(app_name)
    remote = _remote(settings)
    if remote:
        builder = builder.remote(remote)
    conf = {
        k: str(v) for k, v in settings.items() if k.startswith("spark.") and k != "spark.remote"
    }
    if remote:  # a Connect client cannot set the server's static settings
        conf = {k: v for k, v in conf.items() if k.startswith("spark.sql.")}
    session = builder.config(map=conf).getOrCreate()
    if not remote:
        session.sparkContext.setLogLevel(str(settings.get("log_level", "WARN")))
    return session
