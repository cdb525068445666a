"""Project settings: soft-merged parameters so an environment overrides one value, not a whole block."""

import warnings

from kedro.config import OmegaConfigLoader

from music_recommender.hooks import (
    DataErrorMessageHook,
    OutputLocationsHook,
    SafeRunHook,
    SparkHook,
    TorchThreadsHook,
)
from music_recommender.tracking import TrackingHook

# Hooks run last-registered first: SafeRunHook checks parameters and takes the lock before an
# MLflow run is opened.
HOOKS = (
    SparkHook(),  # last to start: after the excepthook that turns its errors into one line
    TrackingHook(),
    OutputLocationsHook(),
    DataErrorMessageHook(),
    TorchThreadsHook(),
    SafeRunHook(),
)

CONFIG_LOADER_CLASS = OmegaConfigLoader
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
    # conf/spark/spark.yml: Spark's own settings, read by SparkHook (hooks.py).
    "config_patterns": {
        "tracking": ["tracking*", "tracking*/**"],
        "spark": ["spark*", "spark*/**"],
    },
}

# Kedro's own config loader calls OmegaConf's deprecated register_new_resolver three times per
# session; the notice is for Kedro's maintainers, not for a user of this project.
warnings.filterwarnings(
    "ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning
)
