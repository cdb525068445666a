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
small ``K x K`` Gram matrix of the other side, and the played pairs through sparse-dense
products on a CSR matrix (``PlayedPairs``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from music_recommender.pmf.model import PMF
from music_recommender.pmf.progress import Progress
from music_recommender.pmf.ranking import item_bias
from music_recommender.pmf.side import SideInformation, TagMix
from music_recommender.pmf.solver import (
    ImplicitConfig,
    PlayedPairs,
    confidence,
    conjugate_gradient,
    initial_rows,
    regularisation,
    side_row_weights,
    solve_side,
    sweep,
    tag_confidence,
    unplayed_weights,
)
from music_recommender.pmf.trainer import resolve_device

logger = logging.getLogger(__name__)
REFIT_STEPS = 16  # CG steps of refit_users: a zero row reaches the exact one within float32


@torch.no_grad()
def _check_model(model: PMF, config: ImplicitConfig) -> None:
    if not model.biases:
        raise ValueError("fit_implicit keeps the biases: build the PMF with biases=True")
    if model.n_factors != config.n_factors:
        raise ValueError(
            f"the model has {model.n_factors} factors but the config asks for {config.n_factors}"
        )


@torch.no_grad()
def store(model: PMF, user: torch.Tensor, item: torch.Tensor, config: ImplicitConfig) -> None:
    """Solved ``[factors | bias]`` rows into the model, which then records its settings."""
    k = config.n_factors
    model.user_factors.weight.copy_(user[:, :k])
    model.item_factors.weight.copy_(item[:, :k])
    model.user_bias.weight.copy_(user[:, k:])
    model.item_bias.weight.copy_(item[:, k:])
    model.global_bias.zero_()
    model.trained_with = {"objective": "implicit", **config.to_dict()}
    model.eval()


@dataclass
class _Problem:
    """What a one-process fit iterates on: the tables, each side's pairs, ridges and weights."""

    user: torch.Tensor  # the listeners' rows, then the tags' (side information)
    item: torch.Tensor
    by_user: PlayedPairs
    by_item: PlayedPairs
    regs: tuple[tuple, tuple]
    weights: tuple[torch.Tensor, torch.Tensor]  # unplayed weights: user-side rows, artists
    friends: torch.Tensor | None  # the friend-mean matrix (side information), or None
    mix: TagMix | None = None  # tags as the artists' prior (tag_prior > 0), or None
    tag_vectors: torch.Tensor | None = None  # the tags' vectors the prior mixes


def _with_tags(
    users: np.ndarray,
    items: np.ndarray,
    conf: torch.Tensor,
    model: PMF,
    config: ImplicitConfig,
    side: SideInformation | None,
) -> tuple[np.ndarray, np.ndarray, torch.Tensor, int]:
    """The pairs the solver sees: the plays, then each (tag, artist) pair of ``side`` as a row
    below the listeners (when there are tags and ``tag_weight`` > 0); and how many tag rows."""
    if side is None or not side.has_tags or not config.tag_weight:
        return users, items, conf, 0
    tags, tagged, percent = side.tag_pairs(model.n_items)
    tag_conf = tag_confidence(percent, config).to(conf.device)
    rows = np.concatenate([users, model.n_users + tags])
    return rows, np.concatenate([items, tagged]), torch.cat([conf, tag_conf]), side.n_tags


def _prepare(
    users_np: np.ndarray,
    items_np: np.ndarray,
    plays: Any,
    model: PMF,
    config: ImplicitConfig,
    device: torch.device,
    side: SideInformation | None = None,
) -> _Problem:
    """Initial tables, each side's played pairs, ridges and unplayed-pair weights."""
    conf = confidence(users_np, plays, config.alpha, config.plays_scale).to(device)
    rows, cols, conf, n_tags = _with_tags(users_np, items_np, conf, model, config, side)
    n_rows = model.n_users + n_tags
    user = initial_rows(n_rows, config, device)
    item = initial_rows(model.n_items, config, device)
    reg_users = regularisation(config, device, np.bincount(rows, minlength=n_rows))
    reg_items = regularisation(config, device, np.bincount(cols, minlength=model.n_items))
    item_negative = unplayed_weights(
        torch.as_tensor(np.bincount(items_np, minlength=model.n_items), device=device),
        config.negative_exponent,
    )
    own = side_row_weights(model.n_users, n_rows, config, device)
    by_user = PlayedPairs.build(rows, cols, conf, own, item_negative)
    by_item = PlayedPairs.build(cols, rows, conf, item_negative, own)
    friends = None
    if side is not None and side.has_friends and config.friend_weight:
        friends, has_friend = side.friend_mean(model.n_users, device)
        reg_users = _plus_row_ridge(reg_users, config.friend_weight * has_friend, n_rows)
    mix, reg_items = _with_tag_prior(side, model, config, device, reg_items)
    return _Problem(
        user, item, by_user, by_item, (reg_users, reg_items), (own, item_negative), friends,
        mix, None if mix is None else torch.zeros(mix.matrix.shape[1], config.n_factors, device=device),
    )  # fmt: skip


def _with_tag_prior(
    side: SideInformation | None,
    model: PMF,
    config: ImplicitConfig,
    device: torch.device,
    reg_items: tuple[torch.Tensor, torch.Tensor | None],
) -> tuple[TagMix | None, tuple[torch.Tensor, torch.Tensor | None]]:
    """(the tag shares, the artists' ridge with ``tag_prior`` added for every tagged artist),
    or (None, the ridge as it was) when the prior is off or there are no tags."""
    if side is None or not side.has_tags or not config.tag_prior:
        return None, reg_items
    mix = side.tag_mix(model.n_items, device)
    return mix, _plus_row_ridge(reg_items, config.tag_prior * mix.tagged, model.n_items)


def _plus_row_ridge(
    reg: tuple[torch.Tensor, torch.Tensor | None], extra: torch.Tensor, n_rows: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``reg`` with ``extra`` (one value per leading row; rows past it get none) added to each
    row's factor L2: the pull of a prior (friends, tags) joins the frequency-scaled ridge."""
    ridge, per_row = reg
    per_row = torch.zeros(n_rows, 1, device=extra.device) if per_row is None else per_row
    per_row[: len(extra), 0] += extra
    return ridge, per_row


# Ridge of the tag vectors' regression (measured on hetrec-2k's validation: 0.01 and 0.1 alike,
# 1 and 10 lower) and its CG steps per artist sweep, from the last sweep's vectors.
_MIX_RIDGE = 0.1
_MIX_STEPS = 15


def _tag_prior(problem: _Problem, config: ImplicitConfig) -> torch.Tensor | None:
    """The artists' prior as the right-hand side's shift: ``tag_prior`` x the mix of each
    artist's tag vectors (zero for an artist without tags)."""
    if problem.mix is None:
        return None
    return (problem.mix.matrix @ problem.tag_vectors).mul_(config.tag_prior)


def _solve_tag_vectors(problem: _Problem, config: ImplicitConfig) -> None:
    """The tag vectors that best mix into the artists' factors: ``(A'A + ridge) G = A' V`` by CG
    on every column at once (``A``: the artists' tag shares), warm-started; solved before each
    artist sweep, so the fitted artists and the returned vectors are one prior's."""
    if problem.mix is None:
        return
    a, a_t = problem.mix.matrix, problem.mix.transposed
    # The solver's batched CG, one system per row: here a factor column of G, so G' is solved.
    rhs = (a_t @ problem.item[:, : config.n_factors]).T

    def apply(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return out.copy_((a_t @ (a @ x.T)).T).add_(x, alpha=_MIX_RIDGE)

    def residual(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return apply(x, out).neg_().add_(rhs)

    start = problem.tag_vectors.T.contiguous()
    problem.tag_vectors = conjugate_gradient(apply, start, residual, _MIX_STEPS).T.contiguous()


def _friend_shift(
    problem: _Problem, n_users: int, config: ImplicitConfig, out: torch.Tensor | None
) -> torch.Tensor | None:
    """The social regulariser's right-hand side: ``friend_weight`` x each listener's friends'
    mean factors (zero for tag rows), from the current tables."""
    if problem.friends is None:
        return None
    k = config.n_factors
    out = torch.zeros(len(problem.user), k, device=problem.user.device) if out is None else out
    out[:n_users] = problem.friends @ problem.user[:n_users, :k]
    return out.mul_(config.friend_weight)


def _pair_rows(users: Any, items: Any, plays: Any) -> tuple[np.ndarray, np.ndarray]:
    """The pairs' listener and artist rows as int64, checked to be as many as the plays."""
    users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    if not len(users) == len(items) == len(plays):
        raise ValueError(
            "users, items and plays must have one length; "
            f"got {len(users)}, {len(items)}, {len(plays)}"
        )
    return users, items


def fit_implicit(
    model: PMF,
    users: Any,
    items: Any,
    plays: Any,
    config: ImplicitConfig | None = None,
    after_sweep: Callable[[int], None] | None = None,
    side: SideInformation | None = None,
) -> list[dict[str, float]]:
    """Fit ``model``'s factors and biases to the implicit objective; returns one record per sweep
    (``fit_implicit_tables`` also returns the tags' fitted rows and prior vectors)."""
    return fit_implicit_tables(model, users, items, plays, config, after_sweep, side)[0]


def _sweep_both(
    problem: _Problem, config: ImplicitConfig, n_users: int, shift: torch.Tensor | None
) -> torch.Tensor | None:
    """One alternating sweep in place: listeners (and tag rows), then the tag prior's vectors,
    then artists; returns the friend shift's buffer for the next sweep."""
    (reg_users, reg_items), (own, item_negative) = problem.regs, problem.weights
    shift = _friend_shift(problem, n_users, config, shift)
    problem.user = sweep(
        problem.user, problem.item, problem.by_user, reg_users, config, (own, item_negative), shift
    )
    _solve_tag_vectors(problem, config)  # from the artists as they are: the prior they meet
    problem.item = sweep(
        problem.item, problem.user, problem.by_item, reg_items, config, (item_negative, own),
        _tag_prior(problem, config),
    )  # fmt: skip
    return shift


def fit_implicit_tables(
    model: PMF,
    users: Any,
    items: Any,
    plays: Any,
    config: ImplicitConfig | None = None,
    after_sweep: Callable[[int], None] | None = None,
    side: SideInformation | None = None,
) -> tuple[list[dict[str, float]], torch.Tensor | None, torch.Tensor | None]:
    """Fit ``model``; (one record per sweep, the tags' ``[factors | bias]`` rows or None, the
    tag vectors the artists' prior mixes (``tag_prior``) or None).

    ``model`` must have ``config.n_factors`` factors (``config.build`` makes one); afterwards its
    ``trained_with`` records the objective and ``config``, so fold-in reuses the same settings.
    ``after_sweep(n)``: called once ``model`` holds sweep ``n``'s tables (a search scores it and
    may stop the fit by raising); one process only. ``side``: tags and friends
    (``pmf.side``), weighed by ``config.tag_weight``, ``config.tag_prior`` and
    ``config.friend_weight``; one process.
    """
    config = config or ImplicitConfig()
    _check_model(model, config)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    users_np, items_np = _pair_rows(users, items, plays)
    if side is not None and config.processes > 1 and (side.has_tags or side.has_friends):
        raise ValueError("side information (tags, friends) is fitted in one process: processes 1")
    if config.processes > 1:  # each worker computes its own blocks' confidences
        from music_recommender.pmf.distributed import launch  # noqa: PLC0415 (torch.distributed)

        user, item, history = launch(
            users_np, items_np, plays, model.n_users, model.n_items, config
        )
        store(model.to(device), user.to(device), item.to(device), config)
        return history, None, None
    problem = _prepare(users_np, items_np, plays, model, config, device, side)
    n_users, history, progress, shift = model.n_users, [], Progress(), None
    for number in range(1, config.iterations + 1):
        start = time.perf_counter()
        shift = _sweep_both(problem, config, n_users, shift)
        history.append({"sweep": number, "seconds": time.perf_counter() - start})
        level, total = progress.level(), config.iterations
        logger.log(level, "implicit sweep %d/%d: %.2f s", number, total, history[-1]["seconds"])
        if after_sweep is not None:
            store(model.to(device), problem.user[:n_users], problem.item, config)
            after_sweep(number)
    store(model.to(device), problem.user[:n_users], problem.item, config)
    if side is not None:
        model.trained_with["side"] = side.summary(model.n_items)
    logger.info(
        "Implicit fit: %d sweeps in %.2f s", config.iterations, sum(h["seconds"] for h in history)
    )
    tags = problem.user[n_users:] if len(problem.user) > n_users else None
    return history, tags, problem.tag_vectors


@torch.no_grad()
def refit_users(
    model: PMF,
    users: Any,
    items: Any,
    plays: Any,
    config: ImplicitConfig | None = None,
    cg_steps: int | None = None,
) -> np.ndarray:
    """Re-solve the rows of the listeners in ``users`` on these (their whole) histories, the
    artists frozen: training's own row update (``solve_side``) for a subset of rows, in batch.

    ``cg_steps`` conjugate-gradient steps from each row's current value; the default,
    ``REFIT_STEPS``, reaches ``fold_in``'s exact row within float32 from a zero row (measured:
    relative error 4e-3 after 6 steps, 3e-5 after 10, 4e-7 after 16). Returns the listener rows
    updated, in order. Cost: linear in these listeners' pairs, nothing sized by the others.
    """
    config = config or ImplicitConfig.of(model)
    if config.negative_exponent != 0:
        raise ValueError("refit_users supports negative_exponent 0 only (it would need popularity)")
    users, items = _pair_rows(users, items, plays)
    rows, local = np.unique(users, return_inverse=True)
    if not len(rows):
        return rows
    k = config.n_factors
    weight = model.user_factors.weight
    device = weight.device
    own = torch.cat([weight[rows], model.user_bias.weight[rows]], dim=1)
    other = torch.cat([model.item_factors.weight, item_bias(model)[:, None]], dim=1)
    conf = confidence(users, plays, config.alpha, config.plays_scale).to(device)
    ones_own = torch.ones(len(rows), device=device)
    ones_other = torch.ones(model.n_items, device=device)
    pairs = PlayedPairs.build(local, items, conf, ones_own, ones_other)
    reg = regularisation(config, device, np.bincount(local, minlength=len(rows)))
    steps = REFIT_STEPS if cg_steps is None else cg_steps
    solved = solve_side(own, other[:, :k], other[:, k], pairs, reg, steps, ones_own, ones_other)
    index = torch.from_numpy(rows).to(device)
    model.user_factors.weight.index_copy_(0, index, solved[:, :k])
    model.user_bias.weight.index_copy_(0, index, solved[:, k:])
    return rows


ItemSide = tuple[torch.Tensor, torch.Tensor]  # the frozen artists' Gram matrix and bias term
_SIDE_ROWS = 16_384  # artists per block while summing the Gram matrix (bounded float64 memory)


@torch.no_grad()
def item_side(model: PMF) -> ItemSide:
    """What every fold-in shares: ``F' F`` and ``-F' b`` of the artists' ``F = [y | 1]``, in
    float64. A ``(k + 1)``-square matrix, summed in blocks: compute it once per fitted model."""
    vectors = model.item_factors.weight.detach().cpu()
    bias = item_bias(model).detach().cpu()
    k = vectors.shape[1]
    gram = torch.zeros(k + 1, k + 1, dtype=torch.float64)
    base = torch.zeros(k + 1, dtype=torch.float64)
    for start in range(0, len(vectors), _SIDE_ROWS):
        block = vectors[start : start + _SIDE_ROWS].double()
        feats = torch.cat([block, torch.ones(len(block), 1, dtype=torch.float64)], dim=1)
        gram += feats.T @ feats
        base -= feats.T @ bias[start : start + _SIDE_ROWS].double()
    return gram, base


@torch.no_grad()
def row_system(
    model: PMF, items: np.ndarray, plays: Any, config: ImplicitConfig, side: ItemSide | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One listener's normal equations ``A x = base + sum_j t_j f_j`` (``solve_side`` for one row,
    unplayed weight 1): returns ``A``, the right-hand side, the played ``f_j`` and ``t_j``."""
    gram, base = side if side is not None else item_side(model)
    rows = torch.from_numpy(np.array(items, dtype=np.int64))
    vectors = model.item_factors.weight.detach().cpu()[rows].double()
    bias = item_bias(model).detach().cpu()[rows].double()
    played = torch.cat([vectors, torch.ones(len(rows), 1, dtype=torch.float64)], dim=1)
    conf = confidence(np.zeros(len(rows)), plays, config.alpha, config.plays_scale).double()
    extra = conf - 1.0
    system = gram + (played.T * extra) @ played
    ridge, per_row = regularisation(config, torch.device("cpu"), [len(rows)])
    system += torch.diag(ridge.double())
    if per_row is not None:  # frequency-scaled L2 on the factor columns
        k = model.n_factors
        system[:k, :k] += torch.eye(k, dtype=torch.float64) * float(per_row[0, 0])
    target = conf - bias * extra
    return system, base + played.T @ target, played, target


def _checked(
    model: PMF, items: Any, config: ImplicitConfig | None, what: str
) -> tuple[np.ndarray, ImplicitConfig]:
    items = np.array(items, dtype=np.int64)
    if len(items) == 0:
        raise ValueError(f"{what} needs at least one artist with a play count")
    config = config or ImplicitConfig.of(model)
    if config.negative_exponent != 0:
        raise ValueError(f"{what} supports negative_exponent 0 only (it would need popularity)")
    return items, config


@torch.no_grad()
def fold_in(
    model: PMF,
    items: Any,
    plays: Any,
    config: ImplicitConfig | None = None,
    side: ItemSide | None = None,
) -> tuple[torch.Tensor, float]:
    """A new listener's vector and bias from their (artist, plays) history; artists stay frozen.

    The same least-squares row as training's, solved exactly (a ``(k + 1)``-square system in
    float64): no retraining, about a millisecond once ``side`` (``item_side``) is known.
    Without ``config``, the settings the model was fitted with (``ImplicitConfig.of(model)``).
    """
    items, config = _checked(model, items, config, "fold_in")
    system, rhs, _, _ = row_system(model, items, plays, config, side)
    row = torch.linalg.solve(system, rhs)
    k = model.n_factors
    return row[:k].to(model.item_factors.weight.dtype), float(row[k])


@torch.no_grad()
def explain_fold_in(
    model: PMF,
    items: Any,
    plays: Any,
    item: int,
    config: ImplicitConfig | None = None,
    side: ItemSide | None = None,
) -> tuple[float, float, np.ndarray]:
    """Why ``item`` scores what it does for a listener with this history, exactly.

    The folded-in row is ``x = A^-1 (base + sum_j t_j f_j)`` (``row_system``), so the score
    ``b_i + y_i . x[:k]`` splits into a baseline (the artist's bias and what every unplayed pair
    says) plus one term per played artist: ``t_j * g_i' A^-1 f_j`` with ``g_i = [y_i | 0]``, as
    implicit's ``explain`` does for ALS. In float64: the terms sum to ``fold_in``'s score.
    Returns (score, baseline, one contribution per history entry).
    """
    items, config = _checked(model, items, config, "explain")
    system, _, played, target = row_system(model, items, plays, config, side)
    _, base = side if side is not None else item_side(model)
    vector = model.item_factors.weight.detach().cpu()[item].double()
    query = torch.cat([vector, torch.zeros(1, dtype=torch.float64)])
    weights = torch.linalg.solve(system, query)  # A^-1 g_i (A is symmetric)
    contributions = target * (played @ weights)
    baseline = float(item_bias(model).detach().cpu()[item].double() + base @ weights)
    return baseline + float(contributions.sum()), baseline, contributions.numpy()


@torch.no_grad()
def fold_in_items(
    model: PMF,
    tag_table: torch.Tensor,
    items: Any,
    tags: Any,
    percent: Any,
    config: ImplicitConfig | None = None,
    cg_steps: int | None = None,
    prior_vectors: torch.Tensor | None = None,
) -> torch.Tensor:
    """``[factors | bias]`` rows of artists the fit never saw, from their tags alone: the fit's
    own artist-row update against the fitted listeners and tags (``tag_table``, as
    ``fit_implicit_tables`` returns it), for artists ``0 .. max(items)`` (local rows; ``tags``
    and ``percent`` give each (artist, tag) pair, as ``SideInformation.tag_pairs``), with the
    fit's pull toward the mix of their tags' ``prior_vectors`` where it had one (``tag_prior``).

    An artist with tags but too few listeners for the play-count filter gets a vector the
    listeners' and the other artists' share, so it can be ranked and found as similar. Batched,
    ``cg_steps`` (default ``REFIT_STEPS``) of CG from zero; cost linear in the pairs.
    """
    config = config or ImplicitConfig.of(model)
    if config.negative_exponent != 0:
        raise ValueError("fold_in_items supports negative_exponent 0 only")
    items, tags = _pair_rows(items, tags, percent)
    n_new = int(items.max()) + 1 if len(items) else 0
    k = config.n_factors
    device = model.user_factors.weight.device
    listeners = torch.cat([model.user_factors.weight, model.user_bias.weight], dim=1)
    other = torch.cat([listeners, tag_table.to(device)], dim=0)
    weight_other = side_row_weights(model.n_users, len(other), config, device)
    conf = tag_confidence(percent, config).to(device)
    ones_own = torch.ones(n_new, device=device)
    pairs = PlayedPairs.build(items, model.n_users + tags, conf, ones_own, weight_other)
    reg = regularisation(config, device, np.bincount(items, minlength=n_new))
    shift = None
    if config.tag_prior and prior_vectors is not None:
        shares = torch.as_tensor(np.asarray(percent) / 100.0, dtype=torch.float32, device=device)
        rows = torch.from_numpy(items).to(device)
        shift = torch.zeros(n_new, k, device=device).index_add_(
            0, rows, shares[:, None] * prior_vectors.to(device)[torch.from_numpy(tags).to(device)]
        )
        shift.mul_(config.tag_prior)
        tagged = (torch.bincount(rows, minlength=n_new) > 0).float()
        reg = _plus_row_ridge(reg, config.tag_prior * tagged, n_new)
    steps = REFIT_STEPS if cg_steps is None else cg_steps
    start = torch.zeros(n_new, k + 1, device=device)
    return solve_side(
        start, other[:, :k], other[:, k], pairs, reg, steps, ones_own, weight_other, shift
    )
