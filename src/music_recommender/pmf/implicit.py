"""Implicit-feedback objective for the same biased PMF model: weighted matrix factorisation.

Every (user, artist) pair counts. A played pair is a 1 with confidence ``1 + alpha * log1p(plays)``;
every other pair is a 0 with confidence 1 (Hu, Koren and Volinsky, 2008). With
``plays_scale="user_median"`` (the default) the plays are first divided by the listener's median
plays per artist, so a heavy listener's ordinary artist is not more certain than a light listener's
favourite: ``1 + alpha * log1p(plays / median plays of that listener)``. The model keeps its
biases: a user's score for an artist is ``user . artist + user_bias + artist_bias``, and the
artist bias becomes a learned popularity prior.

Training alternates exact least-squares updates of all user rows, then all artist rows
(alternating least squares), each solved by a few conjugate-gradient steps over every row at once.
The cost per sweep is linear in the number of played pairs: the zeros enter only through the
small ``K x K`` Gram matrix of the other side.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch

from music_recommender.pmf.model import PMF
from music_recommender.pmf.trainer import resolve_device

logger = logging.getLogger(__name__)
PLAYS_SCALES = ("raw", "user_median")


@dataclass(frozen=True)
class ImplicitConfig:
    """How to fit the implicit objective; the defaults equal conf/base (a test keeps them equal)."""

    n_factors: int = 128
    alpha: float = 20.0  # confidence of a played pair: 1 + alpha * log1p(scaled plays)
    # "user_median": plays divided by the listener's median plays per artist first, so a heavy
    # listener's ordinary artist is not more certain than a light listener's favourite; "raw": not.
    plays_scale: str = "user_median"
    reg: float = 40.0  # L2 on user and artist factors
    bias_reg: float = 10.0  # L2 on user and artist biases
    iterations: int = 10  # alternating sweeps (users, then artists)
    cg_steps: int = 3  # conjugate-gradient steps per row update
    # Weight of an unplayed pair for artist j: popularity_j ** negative_exponent, scaled to mean 1.
    # 0 = every unplayed pair weighs 1 (Hu et al.); > 0 makes "did not play a popular artist"
    # stronger evidence than "did not play an obscure one" (He et al., eALS, 2016).
    negative_exponent: float = 0.0
    init_std: float = 0.01  # std of the initial factors (biases start at 0)
    seed: int = 42
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.plays_scale not in PLAYS_SCALES:
            raise ValueError(
                f"plays_scale must be one of {', '.join(PLAYS_SCALES)}; got {self.plays_scale!r}"
            )
        for name in ("alpha", "reg", "bias_reg", "init_std"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}")
        for name in ("n_factors", "iterations", "cg_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def of(cls, model: PMF) -> ImplicitConfig:
        """The settings ``model`` was fitted with, read from ``model.trained_with``."""
        saved = dict(model.trained_with)
        if saved.pop("objective", None) != "implicit":
            raise ValueError(
                "this model was not fitted with the implicit objective "
                f"(trained_with: {model.trained_with or 'nothing recorded'})"
            )
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in known})

    def build(self, n_users: int, n_items: int) -> PMF:
        """An empty biased model of the right shape for ``fit_implicit``."""
        return PMF(n_users, n_items, self.n_factors, biases=True, init_std=self.init_std)


def _listener_medians(users: np.ndarray, plays: np.ndarray) -> np.ndarray:
    """Each row's listener's median plays, by one sort (no loop over listeners)."""
    order = np.lexsort((plays, users))
    sorted_users = users[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    counts = np.diff(np.r_[starts, len(users)])
    sorted_plays = plays[order]
    medians = 0.5 * (sorted_plays[starts + (counts - 1) // 2] + sorted_plays[starts + counts // 2])
    out = np.empty(len(plays))
    out[order] = np.repeat(medians, counts)
    return out


def confidence(users: Any, plays: Any, alpha: float, plays_scale: str) -> torch.Tensor:
    """``1 + alpha * log1p(plays)`` (plays scaled per ``plays_scale``): how sure a play says "liked"."""
    plays = np.asarray(plays, dtype=np.float64)
    if plays_scale == "user_median" and len(plays):
        plays = plays / np.maximum(_listener_medians(np.asarray(users), plays), 1e-12)
    return 1.0 + alpha * torch.log1p(torch.as_tensor(plays, dtype=torch.float32))


def _solve_side(
    own: torch.Tensor,
    other: torch.Tensor,
    other_bias: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    conf: torch.Tensor,
    reg: torch.Tensor,
    cg_steps: int,
    negative_own: torch.Tensor,
    negative_other: torch.Tensor,
) -> torch.Tensor:
    """Update every row of ``own`` (``[factors | bias]``) given the other side by batched CG.

    Row ``r`` minimises ``sum_j c_rj (p_rj - b_j - own_r . [other_j | 1])^2 + own_r' diag(reg) own_r``
    with ``p = 1, c = conf`` on the played pairs ``(rows, cols)`` and ``p = 0`` with weight
    ``negative_own[r] * negative_other[j]`` everywhere else.
    """
    feats = torch.cat([other, torch.ones_like(other_bias)[:, None]], dim=1)  # [y_j | 1]
    gram = feats.T @ (feats * negative_other[:, None])
    # Right-hand side: sum over all j of c*t*feat with t = p - b_j; first as if no pair were played.
    base = -(feats.T @ (negative_other * other_bias))
    f = feats[cols]
    w0 = negative_own[rows] * negative_other[cols]
    weight = conf * (1.0 - other_bias[cols]) + w0 * other_bias[cols]  # c*(1-b) - w0*(-b)
    rhs = (negative_own[:, None] * base).index_add_(0, rows, f * weight[:, None])
    extra = conf - w0

    def apply(x: torch.Tensor) -> torch.Tensor:
        out = negative_own[:, None] * (x @ gram) + x * reg
        return out.index_add_(0, rows, f * (extra * (x[rows] * f).sum(1))[:, None])

    x = own.clone()
    r = rhs - apply(x)
    p = r.clone()
    rs = (r * r).sum(1)
    for _ in range(cg_steps):
        ap = apply(p)
        denom = (p * ap).sum(1).clamp_min(1e-20)
        step = rs / denom
        x += step[:, None] * p
        r -= step[:, None] * ap
        rs_new = (r * r).sum(1)
        p = r + (rs_new / rs.clamp_min(1e-20))[:, None] * p
        rs = rs_new
    return x


def _initial_rows(n: int, config: ImplicitConfig, device: torch.device) -> torch.Tensor:
    """``[factors | bias]`` rows: small random factors, zero biases."""
    return torch.cat([torch.randn(n, config.n_factors) * config.init_std, torch.zeros(n, 1)], 1).to(
        device
    )


def _regularisation(config: ImplicitConfig, device: torch.device) -> torch.Tensor:
    """The diagonal ridge of a ``[factors | bias]`` row: ``reg`` on factors, ``bias_reg`` on the bias."""
    reg = torch.full((config.n_factors + 1,), float(config.reg), device=device)
    reg[-1] = config.bias_reg
    return reg


@torch.no_grad()
def fit_implicit(
    model: PMF, users: Any, items: Any, plays: Any, config: ImplicitConfig | None = None
) -> list[dict[str, float]]:
    """Fit ``model``'s factors and biases to the implicit objective; returns one record per sweep.

    ``model`` must have ``config.n_factors`` factors (``config.build`` makes one); afterwards its
    ``trained_with`` records the objective and ``config``, so fold-in reuses the same settings.
    """
    config = config or ImplicitConfig()
    if not model.biases:
        raise ValueError("fit_implicit keeps the biases: build the PMF with biases=True")
    if model.n_factors != config.n_factors:
        raise ValueError(
            f"the model has {model.n_factors} factors but the config asks for {config.n_factors}"
        )
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    # copies: the inputs may be read-only
    rows = torch.tensor(np.asarray(users), dtype=torch.long, device=device)
    cols = torch.tensor(np.asarray(items), dtype=torch.long, device=device)
    conf = confidence(users, plays, config.alpha, config.plays_scale).to(device)
    if not len(rows) == len(cols) == len(conf):
        raise ValueError(
            f"users, items and plays must have one length; got {len(rows)}, {len(cols)}, {len(conf)}"
        )
    k = config.n_factors
    user = _initial_rows(model.n_users, config, device)
    item = _initial_rows(model.n_items, config, device)
    reg = _regularisation(config, device)
    popularity = torch.bincount(cols, minlength=model.n_items).float().clamp_min(1.0)
    item_negative = popularity**config.negative_exponent
    item_negative *= model.n_items / item_negative.sum()
    ones_users = torch.ones(model.n_users, device=device)
    history = []
    for sweep in range(1, config.iterations + 1):
        start = time.perf_counter()
        user = _solve_side(
            user, item[:, :k], item[:, k], rows, cols, conf, reg, config.cg_steps,
            ones_users, item_negative,
        )  # fmt: skip
        item = _solve_side(
            item, user[:, :k], user[:, k], cols, rows, conf, reg, config.cg_steps,
            item_negative, ones_users,
        )  # fmt: skip
        history.append({"sweep": sweep, "seconds": time.perf_counter() - start})
    model.to(device)
    model.user_factors.weight.copy_(user[:, :k])
    model.item_factors.weight.copy_(item[:, :k])
    model.user_bias.weight.copy_(user[:, k:])
    model.item_bias.weight.copy_(item[:, k:])
    model.global_bias.zero_()
    model.trained_with = {"objective": "implicit", **config.to_dict()}
    model.eval()
    logger.info(
        "Implicit fit: %d sweeps in %.2f s", config.iterations, sum(h["seconds"] for h in history)
    )
    return history


@torch.no_grad()
def fold_in(
    model: PMF, items: Any, plays: Any, config: ImplicitConfig | None = None
) -> tuple[torch.Tensor, float]:
    """A new listener's vector and bias from their (artist, plays) history; artists stay frozen.

    The same least-squares row update as training, for one row: no retraining, milliseconds.
    Without ``config``, the settings the model was fitted with (``ImplicitConfig.of(model)``).
    """
    if len(items) == 0:
        raise ValueError("a new listener needs at least one artist with a play count")
    config = config or ImplicitConfig.of(model)
    if config.negative_exponent != 0:
        raise ValueError(
            "fold_in supports negative_exponent 0 only (it would need training popularity)"
        )
    items = torch.tensor(np.asarray(items), dtype=torch.long)
    k = model.n_factors
    vectors = model.item_factors.weight.detach().cpu()
    bias = model.item_bias.weight.detach().cpu()[:, 0]
    rows = torch.zeros(len(items), dtype=torch.long)
    conf = confidence(np.zeros(len(items)), plays, config.alpha, config.plays_scale)
    reg = _regularisation(config, torch.device("cpu"))
    ones = torch.ones(model.n_items)
    # k + 1 conjugate-gradient steps solve the (k + 1)-unknown system exactly.
    row = _solve_side(
        torch.zeros(1, k + 1), vectors, bias, rows, items, conf, reg, k + 1, torch.ones(1), ones
    )
    return row[0, :k], float(row[0, k])
