"""A whole training recipe (model shape + TrainConfig) as one flat, JSON-friendly record."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

import torch

from music_recommender.pmf.checks import check_field_types
from music_recommender.pmf.model import PMF
from music_recommender.pmf.trainer import TrainConfig

_MODEL_FIELDS = ("n_factors", "biases", "init_std")


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a trained model, so one config gives one set of numbers."""

    n_factors: int = 40
    biases: bool = True
    init_std: float = 0.1
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    @classmethod
    def from_dict(cls, params: dict[str, Any], where: str = "model") -> Recipe:
        """Build from a flat dict such as the ``model`` parameters; unknown keys are an error."""
        train_keys = {f.name for f in fields(TrainConfig)}
        unknown = set(params) - train_keys - set(_MODEL_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown {where} parameter(s) {sorted(unknown)}; expected some of "
                f"{sorted(train_keys | set(_MODEL_FIELDS))}"
            )
        try:
            train = TrainConfig(**{k: v for k, v in params.items() if k in train_keys})
            return cls(**{k: params[k] for k in _MODEL_FIELDS if k in params}, train=train)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid {where} parameters: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """The flat form ``from_dict`` reads."""
        return {k: getattr(self, k) for k in _MODEL_FIELDS} | self.train.to_dict()

    def replace(self, **changes: Any) -> Recipe:
        """A copy with some model or training fields changed."""
        return Recipe.from_dict(self.to_dict() | changes)

    def build(self, n_users: int, n_items: int, global_bias: float = 0.0) -> PMF:
        """A freshly initialised model (seeded by the training seed)."""
        torch.manual_seed(self.train.seed)
        model = PMF(n_users, n_items, self.n_factors, self.biases, self.init_std, global_bias)
        model.trained_with = {"objective": "rating", **self.to_dict()}
        return model

    def __post_init__(self) -> None:
        check_field_types(self, "model")
        if (
            isinstance(self.n_factors, bool)
            or not isinstance(self.n_factors, int)
            or self.n_factors < 1
        ):
            raise ValueError(f"n_factors must be an integer >= 1; got {self.n_factors!r}")
        if self.init_std < 0:
            raise ValueError(f"init_std must be >= 0; got {self.init_std}")
