"""Project settings: soft-merged parameters so an environment overrides one value, not a whole block."""

from music_recommender.config_loader import ProjectConfigLoader
from music_recommender.hooks import (
    DataErrorMessageHook,
    LogFiltersHook,
    OutputLocationsHook,
    SafeRunHook,
    SparkHook,
    TorchThreadsHook,
    TrackingHook,
)

# Hooks run last-registered first: SafeRunHook checks parameters and takes the lock before an
# MLflow run is opened.
HOOKS = (
    SparkHook(),  # last to start: after the excepthook that turns its errors into one line
    TrackingHook(),
    OutputLocationsHook(),
    DataErrorMessageHook(),
    TorchThreadsHook(),
    SafeRunHook(),
    LogFiltersHook(),  # first: its log filter is in place before anything else logs
)

CONFIG_LOADER_CLASS = ProjectConfigLoader
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
