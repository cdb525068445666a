"""The Spark session of environments that have a ``spark.yml`` (``conf/spark``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from omegaconf import OmegaConf

from music_recommender.spark_session import start as start_spark


class SparkHook:
    """Start the Spark session when the environment has a ``spark.yml`` (``conf/spark``).

    As in Kedro's PySpark starter: Spark's settings live in configuration, the session is built
    once after the context, and every Spark dataset in the catalog uses it. Environments without
    ``spark.yml`` never import pyspark.
    """

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Build the session from ``conf/<env>/spark.yml``; nothing when there is none.

        ``conf/local/spark.yml`` (your machine's or cluster's Spark: master URL, memory) is read
        on top, with ``--env spark`` too: where Spark runs is a fact of the machine, not of the
        experiment.
        """
        try:
            settings = dict(context.config_loader["spark"])
        except (KeyError, MissingConfigException):
            return
        if not settings:
            return
        local = Path(context.config_loader.conf_source) / "local" / "spark.yml"
        if context.env != "local" and local.is_file():
            settings |= dict(OmegaConf.to_container(OmegaConf.load(local)) or {})
        start_spark(settings, context.project_path.name)
