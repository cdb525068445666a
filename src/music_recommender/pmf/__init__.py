"""Probabilistic matrix factorisation in plain PyTorch: model, trainer, LR range test, persistence.

No Kedro here; from a notebook::

    from music_recommender.pmf import PMF, Ratings, TrainConfig, fit

    model = PMF(n_users, n_items, n_factors=40)
    history = fit(model, Ratings.from_arrays(users, items, ratings), config=TrainConfig())
"""

from music_recommender.pmf.lr_finder import LRRangeResult, lr_range_test, suggest_lr
from music_recommender.pmf.model import PMF
from music_recommender.pmf.persistence import ModelFileError, load_model, save_model
from music_recommender.pmf.trainer import History, Ratings, TrainConfig, evaluate, fit

__all__ = [
    "PMF",
    "History",
    "LRRangeResult",
    "ModelFileError",
    "Ratings",
    "TrainConfig",
    "evaluate",
    "fit",
    "load_model",
    "lr_range_test",
    "save_model",
    "suggest_lr",
]
