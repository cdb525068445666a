"""Probabilistic matrix factorisation in plain PyTorch: a library, no Kedro, no other project module.

One recommender object per objective, in the shape implicit made familiar::

    from music_recommender.pmf import ImplicitRecommender, load_recommender

    rec = ImplicitRecommender().fit(users, artists, plays)
    ids, scores = rec.recommend([0, 1], n=10)
    rec.save("model.pt")

and the pieces underneath (the biased ``PMF`` module, the minibatch trainer, the LR range test,
the implicit solver, ranking). Names load on first use, so ``import music_recommender.pmf.errors``
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "PMF": "model",
    "FactorRecommender": "recommender",
    "ImplicitRecommender": "recommender",
    "RatingRecommender": "recommender",
    "load_recommender": "recommender",
    "ImplicitConfig": "solver",
    "Recipe": "recipe",
    "History": "trainer",
    "Ratings": "trainer",
    "TrainConfig": "trainer",
    "evaluate": "trainer",
    "fit": "trainer",
    "LRRangeResult": "lr_finder",
    "lr_range_test": "lr_finder",
    "suggest_lr": "lr_finder",
    "Explanation": "recommender",
    "ModelFileError": "errors",
    "SettingError": "errors",
    "SideInformation": "side",
    "load_model": "persistence",
    "save_model": "persistence",
}
__all__ = [
    "PMF",
    "Explanation",
    "FactorRecommender",
    "History",
    "ImplicitConfig",
    "ImplicitRecommender",
    "LRRangeResult",
    "ModelFileError",
    "RatingRecommender",
    "Ratings",
    "Recipe",
    "SettingError",
    "SideInformation",
    "TrainConfig",
    "evaluate",
    "fit",
    "load_model",
    "load_recommender",
    "lr_range_test",
    "save_model",
    "suggest_lr",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
