"""Project hooks, one module per concern; ``settings.py`` registers them."""

from music_recommender.hooks.error_messages import DataErrorMessageHook
from music_recommender.hooks.log_filters import LogFiltersHook
from music_recommender.hooks.output_locations import OutputLocationsHook
from music_recommender.hooks.overrides import OverridesHook
from music_recommender.hooks.safe_run import LastLineHook, SafeRunHook
from music_recommender.hooks.spark import SparkHook
from music_recommender.hooks.threads import TorchThreadsHook
from music_recommender.hooks.tracking import TrackingHook

__all__ = [
    "DataErrorMessageHook",
    "LastLineHook",
    "LogFiltersHook",
    "OutputLocationsHook",
    "OverridesHook",
    "SafeRunHook",
    "SparkHook",
    "TorchThreadsHook",
    "TrackingHook",
]
