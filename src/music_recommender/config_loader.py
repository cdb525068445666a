"""Kedro's ``OmegaConfigLoader``, without the deprecation notice it raises about its own code."""

from __future__ import annotations

import warnings
from typing import Any

from kedro.config import OmegaConfigLoader

# Kedro 1.7 calls OmegaConf's deprecated register_new_resolver when a loader is built and on each
# lookup; the notice is for Kedro's maintainers, not for a user of this project.
_KEDROS_OWN = r"register_new_resolver\(\) is deprecated"


class ProjectConfigLoader(OmegaConfigLoader):
    """The same loader; only Kedro's own resolver notice is silenced, only inside its calls."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_KEDROS_OWN, category=UserWarning)
            super().__init__(*args, **kwargs)

    def __getitem__(self, key: str) -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_KEDROS_OWN, category=UserWarning)
            return super().__getitem__(key)


CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # `conf/<env>/parameters_*.yml` may restate a single nested key (e.g. `preprocessing.split.seed`)
    # without repeating its siblings; catalog entries stay whole-key replacements.
    "merge_strategy": {
        "parameters": "soft",
        "globals": "soft",
        "tracking": "soft",
        "spark": "soft",
    },
    # conf/<env>/tracking.yml: where every run is tracked (src/music_recommender/tracking.py).
    # conf/spark/spark.yml: Spark's own settings, read by SparkHook (hooks/spark.py).
    "config_patterns": {
        "tracking": ["tracking*", "tracking*/**"],
        "spark": ["spark*", "spark*/**"],
    },
}
