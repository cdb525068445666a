"""music-recommender: Last.fm play counts to a PyTorch PMF recommender, as a Kedro project."""

__version__ = "0.1.0"
