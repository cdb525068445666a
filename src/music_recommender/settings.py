"""Project settings: soft-merged parameters so an environment overrides one value, not a whole block."""

from music_recommender.config_loader import CONFIG_LOADER_ARGS as PROJECT_CONFIG_ARGS
from music_recommender.config_loader import ProjectConfigLoader
from music_recommender.hooks import (
    DataErrorMessageHook,
    LastLineHook,
    LogFiltersHook,
    OutputLocationsHook,
    OverridesHook,
    SafeRunHook,
    SparkHook,
    TorchThreadsHook,
    TrackingHook,
)

# Hooks run last-registered first: SafeRunHook checks parameters and takes the lock before an
# MLflow run is opened.
HOOKS = (
    LastLineHook(),  # last of all: the report's path on the run's last line
    SparkHook(),  # last to start: after the excepthook that turns its errors into one line
    TrackingHook(),
    OutputLocationsHook(),
    OverridesHook(),  # before TrackingHook: the run is named after the values given
    DataErrorMessageHook(),
    TorchThreadsHook(),
    SafeRunHook(),
    LogFiltersHook(),  # first: its log filter is in place before anything else logs
)

CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = PROJECT_CONFIG_ARGS  # also read by the command line (queries.py)
