"""The implicit objective's solver: confidences, played pairs as CSR tiles, batched CG row updates.

Public so that the one-process fit (``implicit_feedback``) and the distributed one
(``distributed``) run the same code. Each row update is the exact least-squares step of
alternating least squares, solved for every row at once by a few conjugate-gradient steps; the
unplayed pairs enter only through the ``K x K`` Gram matrix of the other side, the played ones
through sparse-dense products, so a sweep costs time linear in the played pairs.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from music_recommender.pmf.checks import check_field_types
from music_recommender.pmf.model import PMF
from music_recommender.pmf.trainer import check_device, check_seed

PLAYS_SCALES = ("raw", "user_median")
# Other-side rows per sparse tile, at least: 8192 x 129 floats = 4 MB of vectors read at random
# per tile. Measured at 100 k x 59 k: one tile 3.7x slower (cache misses), 4096 slower again.
_TILE_ROWS = 8192
# Every tile walks all of its side's row pointers, so tiles widen until those walks are at most
# this share of the pairs: at 359 k x 198 k (17 M pairs) 8,192-row tiles made the walks half the
# work, and 32,768-row ones ran the sampled dots 1.4x and the sparse sums 1.75x faster.
_ROW_WALK_SHARE = 0.15
# ... but a tile's vectors stay within this share of the last-level cache: on a 2-vCPU AMD EPYC
# (Zen 3, AVX2) with a 32 MB L3 shared with other tenants, 8,192-row tiles (4 MB) fitted the
# scale shape's 3 sweeps in 123-132 s against 165-180 s for the walk rule's 27,800 rows (14 MB).
_CACHE_SHARE = 8
_ROW_BYTES = 129 * 4  # a [factors | bias] row of 128 factors in float32


def tile_rows(n_rows: int, n_other: int, n_pairs: int, cache: int | None = None) -> int:
    """Other-side rows per tile: cache-sized, widened when the row-pointer walks would cost, but
    not past ``1 / _CACHE_SHARE`` of a last-level cache of ``cache`` bytes (None: no cap)."""
    walks = n_rows * n_other / max(_ROW_WALK_SHARE * n_pairs, 1.0)
    width = int(np.ceil(walks))
    if cache:
        width = min(width, cache // (_CACHE_SHARE * _ROW_BYTES))
    return max(_TILE_ROWS, width)


_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30}


@functools.cache
def last_level_cache() -> int | None:
    """The largest CPU cache Linux reports for CPU 0, in bytes; None where it reports none."""
    sizes = []
    for entry in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        try:
            text = entry.read_text().strip().upper()
            sizes.append(int(text.rstrip("KMG")) * _UNITS.get(text[-1:], 1))
        except (ValueError, OSError):
            continue
    return max(sizes) if sizes else None


@dataclass(frozen=True)
class ImplicitConfig:
    """How to fit the implicit objective; the defaults equal conf/base (a test keeps them equal)."""

    n_factors: int = 128
    alpha: float = 20.0  # confidence of a played pair: 1 + alpha * log1p(scaled plays)
    # "user_median": plays divided by the listener's median plays per artist first, so a heavy
    # listener's ordinary artist is not more certain than a light listener's favourite; "raw": not.
    plays_scale: str = "user_median"
    reg: float = 40.0  # L2 on user and artist factors
    # Frequency-scaled L2 (Rendle et al. 2022): a row's factor L2 is reg + frequency_reg * (its
    # played pairs), so a popular artist or a heavy listener is held back in proportion to the
    # evidence it gets; 0 = the same reg for every row.
    frequency_reg: float = 0.3
    bias_reg: float = 1000.0  # L2 on user and artist biases
    iterations: int = 10  # alternating sweeps (users, then artists)
    cg_steps: int = 3  # conjugate-gradient steps per row update
    # Weight of an unplayed pair for artist j: popularity_j ** negative_exponent, scaled to mean 1.
    # 0 = every unplayed pair weighs 1 (Hu et al.); > 0 makes "did not play a popular artist"
    # stronger evidence than "did not play an obscure one" (He et al., eALS, 2016).
    negative_exponent: float = 0.0
    init_std: float = 0.01  # std of the initial factors (biases start at 0)
    seed: int = 42
    device: str = "auto"
    # > 1: solve across this many processes with torch.distributed (pmf/distributed.py), each
    # owning a block of listeners and of artists; the factors equal one process's within 1e-4.
    processes: int = 1
    # Side information (pmf/side.py), used when a fit is given it; 0 = off. Tags: extra rows
    # sharing the artist factors, a tag's pair with an artist confident tag_weight * (1 +
    # tag_alpha * log1p(percent of the artist's tag assignments)). Friends: the L2 pull of a
    # listener's factors toward their friends' mean (a social regulariser).
    tag_weight: float = 3.0
    tag_alpha: float = 1.0
    friend_weight: float = 10.0
    # Tags as a prior on the artists too (0 = off): a tagged artist's factors are pulled, with
    # this L2 weight, toward the mix of its tags' learned vectors (weighted by the percent of its
    # tag assignments), the mix re-solved before every artist sweep (pmf/side.py).
    tag_prior: float = 0.0

    def __post_init__(self) -> None:
        check_field_types(self, "implicit")
        if self.plays_scale not in PLAYS_SCALES:
            raise ValueError(
                f"plays_scale must be one of {', '.join(PLAYS_SCALES)}; got {self.plays_scale!r}"
            )
        for name in (
            "alpha", "reg", "frequency_reg", "bias_reg", "init_std",
            "tag_weight", "tag_alpha", "friend_weight", "tag_prior",
        ):  # fmt: skip
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}")
        for name in ("n_factors", "iterations", "cg_steps", "processes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
        check_device(self.device, "implicit")
        check_seed(self.seed, "implicit")

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


def listener_medians(users: np.ndarray, plays: np.ndarray) -> np.ndarray:
    """Each row's listener's median plays, by one sort (no loop over listeners)."""
    span = float(plays.max()) - float(plays.min()) + 1.0
    if len(users) and users.max() * span < 2**52:  # one exact float key: a 2.5x faster sort
        order = np.argsort(users * span + (plays - plays.min()))
    else:
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
        plays = plays / np.maximum(listener_medians(np.asarray(users), plays), 1e-12)
    return 1.0 + alpha * torch.log1p(torch.tensor(plays, dtype=torch.float32))  # a copy


def tag_confidence(percent: Any, config: ImplicitConfig) -> torch.Tensor:
    """A (tag, artist) pair's confidence, ``tag_weight * (1 + tag_alpha * log1p(percent))``
    (``percent``: of the artist's tag assignments that carry the tag); unplayed, it weighs
    ``tag_weight``."""
    strength = torch.log1p(torch.as_tensor(np.asarray(percent), dtype=torch.float32))
    return config.tag_weight * (1.0 + config.tag_alpha * strength)


def side_row_weights(
    n_users: int, n_rows: int, config: ImplicitConfig, device: Any
) -> torch.Tensor:
    """The unplayed weight of each row on the listeners' side: 1 for a listener, ``tag_weight``
    for a tag row (below the listeners)."""
    weights = torch.ones(n_rows, device=device)
    weights[n_users:] = config.tag_weight
    return weights


@dataclass(frozen=True)
class _Tile:
    """The pairs whose other-side index falls in ``[offset, offset + width)``, as CSR."""

    crow: torch.Tensor
    col: torch.Tensor  # minus offset
    start: int  # the tile's slice of PlayedPairs' pair arrays
    stop: int
    offset: int
    width: int


@dataclass(frozen=True)
class PlayedPairs:
    """One side's played pairs as sparse CSR tiles (own rows x a slice of the other side's rows).

    ``conf`` is each pair's confidence, ``extra`` the confidence minus the weight the pair would
    have unplayed. The solver touches the pairs only through sparse-dense products (sampled
    dense-dense for the dots, sparse-dense for the sums): memory in the played pairs, no
    ``pairs x factors`` temporaries, and the same code on CUDA. The other side is cut into tiles
    of ``tile_rows`` rows, so the vectors a product reads at random stay in the CPU's cache.
    """

    tiles: list[_Tile]
    conf: torch.Tensor  # per pair, tile by tile, rows in order within a tile
    extra: torch.Tensor
    shape: tuple[int, int]
    dots_out: torch.Tensor  # where ``dots`` writes, one value per pair: no concatenation, no copy

    @classmethod
    def build(
        cls,
        rows: np.ndarray,
        cols: np.ndarray,
        conf: torch.Tensor,
        weight_own: torch.Tensor,
        weight_other: torch.Tensor,
    ) -> PlayedPairs:
        """Sort the pairs by (tile, row, col) once; every sweep reuses the structure.

        Memory: 16 bytes a pair (a 32-bit column, two float32 values; 64-bit columns past 2**31
        rows), plus each tile's row pointers.
        """
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        n_rows, n_other = len(weight_own), len(weight_other)
        width = tile_rows(n_rows, n_other, len(rows), last_level_cache())
        tile_of = cols // width
        # One int64 key (tile, row, column within the tile): one sort instead of a 3-key lexsort.
        order = np.argsort((tile_of * n_rows + rows) * width + cols % width)
        rows, cols, tile_of = rows[order], cols[order], tile_of[order]
        index = np.int32 if max(n_rows, len(rows)) < 2**31 else np.int64
        bounds = np.searchsorted(tile_of, np.arange((n_other - 1) // width + 2))
        tiles = []
        for t, (start, stop) in enumerate(itertools.pairwise(bounds)):
            offset = t * width
            crow = np.r_[0, np.cumsum(np.bincount(rows[start:stop], minlength=n_rows))]
            tiles.append(
                _Tile(
                    crow=torch.from_numpy(crow.astype(index)).to(conf.device),
                    col=torch.from_numpy((cols[start:stop] - offset).astype(index)).to(conf.device),
                    start=int(start),
                    stop=int(stop),
                    offset=offset,
                    width=min(width, n_other - offset),
                )
            )
        conf = conf[torch.from_numpy(order).to(conf.device)]
        unplayed = weight_own[torch.from_numpy(rows).to(conf.device)]
        unplayed *= weight_other[torch.from_numpy(cols).to(conf.device)]
        return cls(tiles, conf, conf - unplayed, (n_rows, n_other), torch.empty_like(conf))

    def gather(self, table: torch.Tensor) -> torch.Tensor:
        """``table[col]`` of every pair, in the pairs' order (a vector indexed by the other side)."""
        return torch.cat([table[t.offset : t.offset + t.width][t.col.long()] for t in self.tiles])

    def _csr(self, tile: _Tile, values: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():  # "sparse CSR support is in beta": used as documented
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(
                tile.crow,
                tile.col,
                values[tile.start : tile.stop],
                size=(self.shape[0], tile.width),
            )

    def sum_rows(
        self, values: torch.Tensor, other: torch.Tensor, out: torch.Tensor
    ) -> torch.Tensor:
        """``out[r] = sum_j values_rj other[j]`` over each row's pairs (sparse @ dense)."""
        for number, tile in enumerate(self.tiles):  # beta 0 on the first: no zero-fill pass
            part = other[tile.offset : tile.offset + tile.width]
            out.addmm_(self._csr(tile, values), part, beta=0.0 if number == 0 else 1.0)
        if not self.tiles:
            out.zero_()
        return out

    def dots(self, own: torch.Tensor, other_t: list[torch.Tensor]) -> torch.Tensor:
        """``own[r] . other[j]`` at every pair (sampled dense-dense); ``other_t``: per-tile ``other.T``
        views (``split_columns``)."""
        self.dots_out.zero_()  # beta 0 still multiplies: stale values must not be NaN
        for tile, part in zip(self.tiles, other_t, strict=True):
            # Written in place into ``dots_out`` (1.1x faster than a fresh tensor per tile and
            # a concatenation); the next call overwrites it.
            into = self._csr(tile, self.dots_out)
            torch.sparse.sampled_addmm(into, own, part, beta=0.0, out=into)
        return self.dots_out

    def split_columns(self, other: torch.Tensor) -> list[torch.Tensor]:
        """``other.T`` cut into this side's tiles, as views: each pair's vector is then one
        contiguous row, which ``sampled_addmm`` reads 1.2x faster than a transposed copy's
        strided column (measured at 100 k x 59 k, one thread)."""
        return [other[t.offset : t.offset + t.width].T for t in self.tiles]


def solve_side(
    own: torch.Tensor,
    other: torch.Tensor,
    other_bias: torch.Tensor,
    pairs: PlayedPairs,
    reg: tuple[torch.Tensor, torch.Tensor | None],
    cg_steps: int,
    weight_own: torch.Tensor,
    weight_other: torch.Tensor,
    shift: torch.Tensor | None = None,
) -> torch.Tensor:
    """Update every row of ``own`` (``[factors | bias]``) given the other side by batched CG.

    Row ``r`` minimises ``sum_j c_rj (p_rj - b_j - own_r . [other_j | 1])^2 + own_r' diag(reg) own_r``
    with ``p = 1, c = conf`` on its played pairs and ``p = 0`` with weight
    ``weight_own[r] * weight_other[j]`` everywhere else. The unplayed pairs enter only through the
    ``(k + 1) x (k + 1)`` Gram matrix of the other side, so the cost is linear in the played pairs.
    ``shift`` (rows x k, optional) joins the right-hand side's factor columns: with a per-row
    ridge ``w`` in ``reg``, ``w ||x_r - shift_r / w||^2`` pulls a row toward a prior (friends).
    """
    feats = torch.cat([other, torch.ones_like(other_bias)[:, None]], dim=1)  # [y_j | 1]
    feats_t = pairs.split_columns(feats)
    gram = feats.T @ (feats * weight_other[:, None])
    # Right-hand side: sum over all j of w*t*feat with t = p - b_j; first as if no pair were played.
    base = -(feats.T @ (weight_other * other_bias))
    scale = weight_own[:, None]
    target = pairs.conf - pairs.gather(other_bias) * pairs.extra  # c * (1 - b) + w0 * b
    work = torch.empty_like(own)
    ridge, per_row = reg
    # Every row's unplayed pairs weigh 1 (negative_exponent 0, or the artists' side): the ridge
    # joins the Gram matrix and one addmm does both, no pass of its own over the rows.
    uniform = bool((weight_own == 1).all())
    gram_ridge = gram + torch.diag(ridge) if uniform else gram

    def apply(
        x: torch.Tensor, out: torch.Tensor, played: torch.Tensor | None = None
    ) -> torch.Tensor:
        # sum_j extra_rj (y_j . x_r) y_j: the dots at the played pairs only, then a sparse sum;
        # ``played`` - that, with the rest negated: the residual's sparse part in one pass.
        dots = pairs.dots(x, feats_t).mul_(pairs.extra)
        pairs.sum_rows(dots if played is None else dots.neg_().add_(played), feats, out)
        sign = 1.0 if played is None else -1.0
        if uniform:
            out.addmm_(x, gram_ridge, alpha=sign)
        else:
            out.addcmul_(scale, torch.mm(x, gram, out=work), value=sign)
            out.addcmul_(x, ridge, value=sign)
        if per_row is not None:  # frequency-scaled L2 on the factor columns
            out[:, :-1].addcmul_(x[:, :-1], per_row, value=sign)
        return out

    def residual(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        # rhs - A x with rhs = sum_rows(target) + scale * base: one sparse pass, not two.
        out = apply(x, out, target)
        if shift is not None:
            out[:, :-1].add_(shift)
        return out.add_(base) if uniform else out.addcmul_(scale, base[None, :])

    return conjugate_gradient(apply, own, residual, cg_steps)


def _row_dots(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a[r] . b[r]`` for every row: one batched product, 1.8x faster than ``(a * b).sum(1)``."""
    return torch.bmm(a.unsqueeze(1), b.unsqueeze(2)).view(-1)


def conjugate_gradient(apply: Any, x: torch.Tensor, residual: Any, steps: int) -> torch.Tensor:
    """``steps`` of CG on every row's system at once, from ``x``; ``residual(x, out)`` writes
    ``rhs - A x`` into ``out``.

    Every ``rows x (k + 1)`` array is allocated once: a fresh one per operation would cost more
    in page faults than the arithmetic at Last.fm-360K's size.
    """
    x = x.clone()
    ap = torch.empty_like(x)
    r = residual(x, torch.empty_like(x))
    p = r.clone()
    rs = _row_dots(r, r)
    for _ in range(steps):
        apply(p, ap)
        step = (rs / _row_dots(p, ap).clamp_min(1e-20))[:, None]
        x.addcmul_(step, p)
        r.addcmul_(step, ap, value=-1.0)
        rs_new = _row_dots(r, r)
        torch.addcmul(r, p, (rs_new / rs.clamp_min(1e-20))[:, None], out=p)  # p = r + beta p
        rs = rs_new
    return x


def initial_rows(n: int, config: ImplicitConfig, device: torch.device) -> torch.Tensor:
    """``[factors | bias]`` rows: small random factors, zero biases."""
    return torch.cat([torch.randn(n, config.n_factors) * config.init_std, torch.zeros(n, 1)], 1).to(
        device
    )


def regularisation(
    config: ImplicitConfig, device: torch.device, counts: Any = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The diagonal ridge of ``[factors | bias]`` rows: ``reg`` on factors, ``bias_reg`` on the
    bias, and each row's extra factor L2, ``frequency_reg`` x its played pairs (one entry per
    row of ``counts``; None when there is none). A vector per row, not a matrix: the ridge costs
    memory in rows, not rows x factors."""
    reg = torch.full((config.n_factors + 1,), float(config.reg), device=device)
    reg[-1] = config.bias_reg
    if not config.frequency_reg or counts is None:
        return reg, None
    played = torch.as_tensor(np.asarray(counts), dtype=torch.float32, device=device)
    return reg, config.frequency_reg * played[:, None]


def unplayed_weights(counts: torch.Tensor, exponent: float) -> torch.Tensor:
    """Each artist's weight on its unplayed pairs: popularity ** exponent, scaled to mean 1."""
    weight = counts.float().clamp_min(1.0) ** exponent
    return weight * (len(weight) / weight.sum())


def sweep(
    own: torch.Tensor,
    other: torch.Tensor,
    pairs: PlayedPairs,
    reg: tuple[torch.Tensor, torch.Tensor | None],
    config: ImplicitConfig,
    weights: tuple[torch.Tensor, torch.Tensor],
    shift: torch.Tensor | None = None,
) -> torch.Tensor:
    """One side's half of a sweep: its ``[factors | bias]`` rows given the other side's."""
    k = config.n_factors
    return solve_side(
        own, other[:, :k], other[:, k], pairs, reg, config.cg_steps, *weights, shift=shift
    )
