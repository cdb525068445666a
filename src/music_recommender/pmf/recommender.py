"""One recommender object per objective, in the shape implicit made familiar.

::

    from music_recommender.pmf import ImplicitRecommender

    rec = ImplicitRecommender().fit(users, artists, plays)
    ids, scores = rec.recommend([0, 1], n=10)  # never an artist a listener played
    ids, sims = rec.similar_items([5], n=10)  # never the artist itself
    vector, bias = rec.recalculate_user([3, 8], [120.0, 40.0])  # a new listener, folded in
    ids, scores = rec.recommend_new([3, 8], [120.0, 40.0], n=10)
    rec.save("model.pt")
    same = load_recommender("model.pt")

The object holds its settings (``config`` / ``recipe``), the fitted ``model`` (a ``PMF``), the
played pairs it was fitted on (``user_items``, CSR: a row per listener), the id-map fingerprint
(``id_maps``) and a memory budget: scores are made in batches of rows that fit it, never a
listeners x artists matrix. Indices are the model's rows (0..n-1).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from scipy import sparse

from music_recommender.pmf.checks import check_model_memory
from music_recommender.pmf.errors import ModelFileError, NonFiniteModelError
from music_recommender.pmf.implicit_feedback import (
    ItemSide,
    explain_fold_in,
    fit_implicit_tables,
    fold_in,
    fold_in_items,
    item_side,
    refit_users,
    store,
)
from music_recommender.pmf.model import PMF
from music_recommender.pmf.persistence import read_payload, to_bytes, write_atomic
from music_recommender.pmf.ranking import (
    FactorScorer,
    Scorer,
    SimilarityTables,
    item_bias,
    pairs_matrix,
    recommend,
    similar_items,
    similarity_tables,
)
from music_recommender.pmf.recipe import Recipe
from music_recommender.pmf.scaling import RatingScaler
from music_recommender.pmf.side import SideInformation
from music_recommender.pmf.solver import ImplicitConfig
from music_recommender.pmf.trainer import History, Ratings, fit

Lists = tuple[np.ndarray, np.ndarray]  # (artist indices, scores), one row per query


@dataclass(frozen=True)
class Explanation:
    """An artist's score for a listener, split into a baseline and one share per played artist."""

    item: int
    score: float
    baseline: float  # the artist's bias and what the unplayed pairs say: no one artist's doing
    artists: np.ndarray  # the played artists' rows, largest contribution first
    contributions: np.ndarray  # each one's share of the score


class FactorRecommender:
    """What every objective shares: ranking, similar artists, allow/deny lists, save and load."""

    objective: ClassVar[str] = ""

    def __init__(self, memory_budget_mb: float = 256.0) -> None:
        self.memory_budget_mb = _budget(memory_budget_mb)
        self.model: PMF | None = None
        self.user_items: sparse.csr_matrix | None = None
        self._scorer: FactorScorer | None = None
        self._tables: tuple[Any, SimilarityTables] | None = None  # (model, similarity_tables)

    # ------------------------------------------------------------------ state

    @property
    def fitted(self) -> PMF:
        """The fitted model; a clear error before ``fit`` or ``load``."""
        if self.model is None:
            raise ValueError(f"this {type(self).__name__} is not fitted: call fit() or load()")
        return self.model

    @property
    def n_users(self) -> int:
        """Listener rows of the model."""
        return self.fitted.n_users

    @property
    def n_items(self) -> int:
        """Artist rows of the model."""
        return self.fitted.n_items

    @property
    def id_maps(self) -> str | None:
        """Fingerprint of the id maps the model's rows follow (None when not recorded)."""
        return self.fitted.trained_with.get("id_maps")

    @property
    def settings(self) -> dict[str, Any]:
        """What the model was trained with (objective and every setting)."""
        return dict(self.fitted.trained_with)

    def set_model(
        self, model: PMF, user_items: sparse.csr_matrix | None = None, id_maps: str | None = None
    ) -> FactorRecommender:
        """Adopt a fitted model (and its played pairs); ``id_maps`` is recorded on it."""
        if id_maps is not None:
            model.trained_with |= {"id_maps": id_maps}
        self.model, self.user_items, self._scorer = model.eval(), user_items, None
        return self

    def with_budget(self, memory_budget_mb: float) -> FactorRecommender:
        """The same fitted recommender, scoring under another memory budget (a shallow copy)."""
        other = copy.copy(self)
        other.memory_budget_mb = _budget(memory_budget_mb)
        return other

    def scorer(
        self, popularity_penalty: float = 0.0, popularity: np.ndarray | None = None
    ) -> Scorer:
        """Scores for batches of listener rows (``pmf.ranking``'s evaluation takes one).

        With ``popularity_penalty`` (see ``recommend``) the scores are re-ranked, exact float32.
        """
        if popularity_penalty:
            offset = self._popularity_offset(popularity_penalty, popularity)
            return self._exact_scorer(self.fitted.user_factors.weight.detach(), offset)
        if self._scorer is None or self._scorer.model is not self.model:
            self._scorer = FactorScorer(self.fitted)
        return self._scorer

    # ------------------------------------------------------------------ answers

    def recommend(
        self,
        users: Any,
        n: int = 10,
        filter_played: bool = True,
        items: Any = None,
        exclude: Any = None,
        user_items: sparse.csr_matrix | None = None,
        popularity_penalty: float = 0.0,
        popularity: np.ndarray | None = None,
    ) -> Lists:
        """The ``n`` best artists for each listener row in ``users``, best first.

        ``filter_played``: never an artist the listener played: ``user_items`` (CSR, one row per
        entry of ``users``, as implicit's), by default the pairs the model was fitted on.
        ``items``: rank only these artists (an allow-list); ``exclude``: never these (a
        deny-list). Rows with fewer artists left than ``n`` are padded with -1 scored ``-inf``.
        ``popularity_penalty`` (lambda): rank by ``score - lambda * log(1 + listeners)``, the
        artists' listener counts ``popularity`` (by default those of the fitted pairs): a knob
        that trades a little accuracy for more of the long tail; 0 gives the plain lists.
        """
        users = self._rows(users, self.n_users, "users")
        played = self._played(users, filter_played, user_items)
        if items is None and not popularity_penalty:  # bfloat16 candidates, exact scores
            return self._ranked(self.scorer(), users, played, n, exclude)
        vectors = self.fitted.user_factors.weight.detach()
        offset = self._popularity_offset(popularity_penalty, popularity)
        return self._ranked_among(vectors, users, played, n, items, exclude, offset)

    def recommend_new(
        self, artists: Any, plays: Any, n: int = 10, items: Any = None, exclude: Any = None
    ) -> Lists:
        """Top ``n`` for a listener the model has never seen, from their (artist, plays) history."""
        vector, _ = self.recalculate_user(artists, plays)
        artists = self._rows(artists, self.n_items, "artists")
        played = pairs_matrix(np.zeros(len(artists), dtype=np.int64), artists, 1, self.n_items)
        first = np.zeros(1, dtype=np.int64)
        index, scores = self._ranked_among(vector[None], first, played, n, items, exclude)
        return index[0], scores[0]

    def similar_items(self, items: Any, n: int = 10) -> Lists:
        """Each artist's ``n`` nearest other artists by cosine of their vectors (never itself)."""
        items = self._rows(items, self.n_items, "items")
        if self._tables is None or self._tables[0] is not self.model:
            self._tables = (self.model, similarity_tables(self.fitted))  # once per fitted model
        return similar_items(self.fitted, items, n, self.memory_budget_mb, self._tables[1])

    def recalculate_user(self, artists: Any, plays: Any) -> tuple[torch.Tensor, float]:
        """A listener's vector and bias from their history, the artists frozen (fold-in)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ files

    def to_bytes(self) -> bytes:
        """The model, its settings and played pairs as one file's bytes (no pickled objects)."""
        arrays = {}
        if self.user_items is not None:
            arrays = {
                "played_indptr": torch.from_numpy(self.user_items.indptr.astype(np.int64)),
                "played_indices": torch.from_numpy(self.user_items.indices.astype(np.int32)),
            }
        tags = getattr(self, "tag_vectors", None)
        if tags is not None:
            arrays["tag_vectors"] = tags.detach().cpu()
        prior = getattr(self, "tag_prior_vectors", None)
        if prior is not None:
            arrays["tag_prior_vectors"] = prior.detach().cpu()
        extra = {"objective": self.objective, "memory_budget_mb": self.memory_budget_mb}
        return to_bytes(self.fitted, extra, arrays)

    def save(self, path: str | Path) -> None:
        """Write atomically: a crash mid-write never leaves a truncated file at ``path``."""
        write_atomic(self.to_bytes(), path)

    @classmethod
    def load(cls, path: str | Path) -> FactorRecommender:
        """Read a recommender that ``save`` wrote (whichever objective); see ``load_recommender``."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no model file at {path}")
        return cls.from_bytes(path.read_bytes(), str(path))

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> FactorRecommender:
        """The recommender of the objective the file records, with its played pairs."""
        model, payload = read_payload(data, source)
        extra = payload.get("extra") or {}
        objective = extra.get("objective") or model.trained_with.get("objective") or "rating"
        kinds = {kind.objective: kind for kind in (ImplicitRecommender, RatingRecommender)}
        if objective not in kinds or not issubclass(kinds[objective], cls):
            raise ModelFileError(f"{source} holds a {objective!r} model, not a {cls.__name__}")
        arrays = payload.get("arrays") or {}
        played = _played_from(arrays, model, source)
        rec = kinds[objective]._restore(model, played, float(extra.get("memory_budget_mb", 256)))
        tags = arrays.get("tag_vectors")
        if isinstance(rec, ImplicitRecommender) and tags is not None:
            if tags.ndim != 2 or tags.shape[1] != model.n_factors + 1:
                raise ModelFileError(f"{source}: the tag vectors do not fit the model's factors")
            rec.tag_vectors = tags
        prior = arrays.get("tag_prior_vectors")
        if isinstance(rec, ImplicitRecommender) and prior is not None:
            if prior.ndim != 2 or prior.shape[1] != model.n_factors:
                raise ModelFileError(f"{source}: the tag prior's vectors do not fit the factors")
            rec.tag_prior_vectors = prior
        return rec

    @classmethod
    def _restore(
        cls, model: PMF, played: sparse.csr_matrix | None, budget: float
    ) -> FactorRecommender:
        raise NotImplementedError

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _rows(values: Any, size: int, name: str) -> np.ndarray:
        rows = np.atleast_1d(np.asarray(values, dtype=np.int64))
        if len(rows) and (rows.min() < 0 or rows.max() >= size):
            raise IndexError(
                f"{name} must be row indices in [0, {size}); got {rows.min()}..{rows.max()}"
            )
        return rows

    def _played(
        self, users: np.ndarray, filter_played: bool, user_items: sparse.csr_matrix | None
    ) -> sparse.csr_matrix | None:
        """Each queried listener's played artists: ``user_items`` as given, else the fitted pairs."""
        if not filter_played:
            return None
        if user_items is not None:
            if user_items.shape != (len(users), self.n_items):
                raise ValueError(
                    f"user_items must have one row per user asked for and a column per artist: "
                    f"({len(users)}, {self.n_items}); got {user_items.shape}"
                )
            return sparse.csr_matrix(user_items)
        if self.user_items is None:
            raise ValueError(
                "filter_played needs the played pairs: pass user_items, or fit() this object"
            )
        return self.user_items[users]

    def _ranked(
        self,
        scorer: Any,
        rows: np.ndarray,
        played: sparse.csr_matrix | None,
        n: int,
        exclude: Any,
        columns: np.ndarray | None = None,
    ) -> Lists:
        """``pmf.ranking.recommend`` with the deny-list added to each row's exclusions.

        ``columns``: the allow-list the scorer scores (its columns are these artists).
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"n must be an integer >= 1; got {n!r}")
        skip = _with_denied(played, exclude, len(rows), self.n_items)
        width = self.n_items
        if columns is not None:
            skip = skip[:, columns] if skip is not None else None
            width = len(columns)
        index, scores = recommend(scorer, rows, n, skip, self.memory_budget_mb, width)
        if columns is not None:
            index = columns[index]
        index[~np.isfinite(scores)] = -1
        return index, scores

    def _ranked_among(
        self,
        vectors: torch.Tensor,
        rows: np.ndarray,
        played: sparse.csr_matrix | None,
        n: int,
        items: Any,
        exclude: Any,
        offset: torch.Tensor | None = None,
    ) -> Lists:
        """Exact float32 scores of ``vectors[rows]`` over the allow-list (every artist: None)."""
        columns = None
        if items is not None:
            columns = np.unique(self._rows(items, self.n_items, "items"))
        scorer = self._exact_scorer(vectors, offset, columns)
        return self._ranked(scorer, rows, played, n, exclude, columns)

    def _exact_scorer(
        self, vectors: torch.Tensor, offset: torch.Tensor | None, columns: np.ndarray | None = None
    ) -> Scorer:
        """``bias (+ offset) + vectors[batch] . artists`` in float32, over ``columns`` if given."""
        model = self.fitted
        table = model.item_factors.weight.detach()
        bias = item_bias(model) if offset is None else item_bias(model) + offset.to(table)
        if columns is not None:
            pick = torch.from_numpy(columns).to(table.device)
            table, bias = table[pick], bias[pick]

        def scorer(batch: np.ndarray) -> torch.Tensor:
            chosen = vectors[torch.from_numpy(np.asarray(batch)).to(vectors.device)].to(table)
            return torch.addmm(bias, chosen, table.T).cpu().float()

        return scorer

    def _popularity_offset(
        self, penalty: float, popularity: np.ndarray | None
    ) -> torch.Tensor | None:
        """``-penalty * log(1 + listeners)`` per artist (None for no penalty)."""
        if not penalty:
            return None
        if not np.isfinite(penalty) or penalty < 0:
            raise ValueError(f"popularity_penalty must be a finite number >= 0; got {penalty!r}")
        if popularity is None:
            if self.user_items is None:
                raise ValueError("popularity_penalty needs the artists' listener counts")
            popularity = np.bincount(self.user_items.indices, minlength=self.n_items)
        counts = torch.as_tensor(np.asarray(popularity, dtype=np.float64), dtype=torch.float32)
        return -float(penalty) * torch.log1p(counts)


def check_finite(model: PMF) -> None:
    """Raise when any weight is NaN or infinite: its scores would rank nothing."""
    bad = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        settings = {k: v for k, v in model.trained_with.items() if k != "id_maps"}
        raise NonFiniteModelError(
            f"the fitted model's {', '.join(bad)} are not finite (NaN or inf): the settings "
            f"overflow on this data ({settings}); lower alpha or the learning rate"
        )


def _budget(memory_budget_mb: float) -> float:
    if isinstance(memory_budget_mb, bool) or not memory_budget_mb > 0:
        raise ValueError(f"memory_budget_mb must be > 0; got {memory_budget_mb!r}")
    return float(memory_budget_mb)


def _with_denied(
    played: sparse.csr_matrix | None, exclude: Any, n_rows: int, n_items: int
) -> sparse.csr_matrix | None:
    """The played pairs of each row plus the deny-list's artists (None when both are empty)."""
    if exclude is None or not len(np.atleast_1d(exclude)):
        return played
    denied = np.unique(np.asarray(exclude, dtype=np.int64))
    if denied.min() < 0 or denied.max() >= n_items:
        raise IndexError(f"exclude must be artist indices in [0, {n_items})")
    rows = np.repeat(np.arange(n_rows), len(denied))
    deny = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.int8), (rows, np.tile(denied, n_rows))),
        shape=(n_rows, n_items),
    )
    out = deny if played is None else (played.astype(np.int8) + deny).tocsr()
    out.data[:] = 1
    return out


def _played_from(
    arrays: dict[str, torch.Tensor], model: PMF, source: str
) -> sparse.csr_matrix | None:
    if "played_indptr" not in arrays:
        return None
    indptr = arrays["played_indptr"].numpy()
    indices = arrays["played_indices"].numpy()
    if len(indptr) != model.n_users + 1 or (len(indices) and indices.max() >= model.n_items):
        raise ModelFileError(f"{source}: the played pairs do not fit the model's tables")
    data = np.ones(len(indices), dtype=np.int8)
    return sparse.csr_matrix((data, indices, indptr), shape=(model.n_users, model.n_items))


class ImplicitRecommender(FactorRecommender):
    """The implicit-feedback objective: every pair counts, a play with confidence (ALS + CG)."""

    objective: ClassVar[str] = "implicit"

    def __init__(
        self, config: ImplicitConfig | None = None, memory_budget_mb: float = 256.0
    ) -> None:
        super().__init__(memory_budget_mb)
        self.config = config or ImplicitConfig()
        self.history: list[dict[str, float]] = []
        self._side: tuple[Any, ItemSide] | None = None  # (the model it is of, item_side)
        # The tags' fitted [factors | bias] rows (a fit with tags): artists from their tags.
        self.tag_vectors: torch.Tensor | None = None
        self.tag_prior_vectors: torch.Tensor | None = None  # what the artists' tag prior mixes

    def fit(
        self,
        users: Any,
        items: Any,
        plays: Any,
        n_users: int | None = None,
        n_items: int | None = None,
        id_maps: str | None = None,
        after_sweep: Callable[[int, ImplicitRecommender], None] | None = None,
        side: SideInformation | None = None,
    ) -> ImplicitRecommender:
        """Fit to (listener row, artist row, plays) triples; tables sized from the data by default.

        ``after_sweep(n, self)``: called after each sweep with this object answering from that
        sweep's tables (a search scores it there, and may stop the fit by raising). ``side``:
        artists' tags and listeners' friends (``pmf.side``), weighed by the config's
        ``tag_weight`` and ``friend_weight``; hold out a pair's tags with the pair
        (``side.holding_out``), as ``HoldoutTask`` does.
        """
        users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
        n_users = int(users.max()) + 1 if n_users is None else n_users
        n_items = int(items.max()) + 1 if n_items is None else n_items
        n_tags = 0 if side is None else side.n_tags
        check_model_memory("implicit", n_users + n_items + n_tags, self.config.n_factors)
        model = self.config.build(n_users, n_items)
        self.set_model(model, pairs_matrix(users, items, n_users, n_items))
        hook = (
            None
            if after_sweep is None
            else lambda n: after_sweep(n, self.set_model(model, self.user_items))
        )
        self.history, self.tag_vectors, self.tag_prior_vectors = fit_implicit_tables(
            model, users, items, plays, self.config, hook, side
        )
        check_finite(model)  # a model of NaN never ships
        return self.set_model(model, self.user_items, id_maps)  # type: ignore[return-value]

    def from_tables(
        self, user: torch.Tensor, item: torch.Tensor, id_maps: str | None = None
    ) -> ImplicitRecommender:
        """Adopt ``[factors | bias]`` tables solved elsewhere (``pmf.distributed.solve``)."""
        model = self.config.build(len(user), len(item))
        store(model, user, item, self.config)
        check_finite(model)
        return self.set_model(model, None, id_maps)  # type: ignore[return-value]

    def recalculate_user(self, artists: Any, plays: Any) -> tuple[torch.Tensor, float]:
        """The exact least-squares row of a listener with this history (no retraining)."""
        rows = self._rows(artists, self.n_items, "artists")
        return fold_in(self.fitted, rows, plays, self.config, self._item_side())

    def partial_fit_users(
        self, users: Any, artists: Any, plays: Any, cg_steps: int | None = None
    ) -> ImplicitRecommender:
        """Re-solve these listeners' rows on these histories (each listener's whole history, as
        (listener row, artist row, plays) triples), the artists frozen, as implicit's
        ``partial_fit_users``: the shipped model then knows pairs its fit never saw.

        ``cg_steps``: conjugate-gradient steps from each current row (default: enough for the
        exact row, ``refit_users``); their played pairs replace the fitted ones in ``user_items``.
        """
        users = self._rows(users, self.n_users, "users")
        artists = self._rows(artists, self.n_items, "artists")
        rows = refit_users(self.fitted, users, artists, plays, self.config, cg_steps)
        check_finite(self.fitted)
        if self.user_items is not None:
            played = self.user_items.tocoo()
            keep = ~np.isin(played.row, rows)
            self.user_items = pairs_matrix(
                np.r_[played.row[keep], users],
                np.r_[played.col[keep], artists],
                self.n_users,
                self.n_items,
            )
        self._scorer = None
        return self

    def vectors_from_tags(
        self, artists: Any, tags: Any, percent: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Vectors and biases of artists the model has no row for, from their tags alone (local
        rows ``0 .. max(artists)``; ``percent``: the share of each artist's tag assignments
        that carry the tag, as ``SideInformation.tag_pairs``); needs a fit with tags."""
        if self.tag_vectors is None:
            raise ValueError("vectors_from_tags needs a model fitted with tags (side=...)")
        tags = self._rows(tags, len(self.tag_vectors), "tags")
        rows = fold_in_items(
            self.fitted, self.tag_vectors, artists, tags, percent, self.config,
            prior_vectors=self.tag_prior_vectors,
        )  # fmt: skip
        k = self.config.n_factors
        return rows[:, :k], rows[:, k]

    def _item_side(self) -> ItemSide:
        """The artists' Gram matrix every fold-in shares, computed once per fitted model."""
        if self._side is None or self._side[0] is not self.model:
            self._side = (self.model, item_side(self.fitted))
        return self._side[1]

    def explain(self, artists: Any, plays: Any, item: int) -> Explanation:
        """Which of a listener's played artists make ``item`` score what it does (fold-in score,
        exactly split: ``baseline + sum(contributions) == score``), largest share first.

        As implicit's ``explain``: the listener is recalculated from this history, so for a
        listener the model was trained on the score is the refreshed row's, close to the trained.
        """
        artists = self._rows(artists, self.n_items, "artists")
        (item,) = self._rows(item, self.n_items, "item")
        score, baseline, shares = explain_fold_in(
            self.fitted, artists, plays, int(item), self.config, self._item_side()
        )
        order = np.argsort(-shares, kind="stable")
        return Explanation(int(item), score, baseline, artists[order], shares[order])

    @classmethod
    def _restore(
        cls, model: PMF, played: sparse.csr_matrix | None, budget: float
    ) -> ImplicitRecommender:
        rec = cls(ImplicitConfig.of(model), budget)
        rec.set_model(model, played)
        return rec


class RatingRecommender(FactorRecommender):
    """The article's rating objective: PMF fitted to normalised play counts by minibatch SGD/Adam."""

    objective: ClassVar[str] = "rating"

    def __init__(
        self,
        recipe: Recipe | None = None,
        memory_budget_mb: float = 256.0,
        scaler: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(memory_budget_mb)
        self.recipe = recipe or Recipe()
        # How plays became ratings (pmf.scaling.RatingScaler.to_dict): recalculate_user's input.
        self.scaler = scaler
        self.history: History | None = None

    def fit(
        self,
        train: Ratings,
        validation: Ratings | None = None,
        n_users: int | None = None,
        n_items: int | None = None,
        id_maps: str | None = None,
    ) -> RatingRecommender:
        """Train through the recipe's schedule (early stopping on ``validation``); see ``history``."""
        n_users = int(train.pairs[:, 0].max()) + 1 if n_users is None else n_users
        n_items = int(train.pairs[:, 1].max()) + 1 if n_items is None else n_items
        check_model_memory("rating", n_users + n_items, self.recipe.n_factors)
        # The mean rating as numpy takes it (float32, pairwise), the global bias's start.
        mean = float(np.mean(train.targets.cpu().numpy()))
        model = self.recipe.build(n_users, n_items, mean)
        self.history = fit(model, train, validation, self.recipe.train)
        check_finite(model)
        if self.scaler is not None:
            model.trained_with |= {
                "normalisation": self.scaler["method"],
                "scaler": dict(self.scaler),
            }
        pairs = train.pairs.cpu().numpy()
        return self.set_model(
            model, pairs_matrix(pairs[:, 0], pairs[:, 1], n_users, n_items), id_maps
        )  # type: ignore[return-value]

    @torch.no_grad()
    def recalculate_user(self, artists: Any, plays: Any) -> tuple[torch.Tensor, float]:
        """The ridge-regression row that the recipe's penalties give a listener with these plays.

        Plays become ratings with the recorded scaler (without one they are taken as ratings).
        The penalty per rating is the recipe's ``l2`` on the vector and ``bias_l2`` on the bias,
        plus ``user_bias_ridge`` once, as the trainer's batch penalty sums to over an epoch.
        """
        model = self.fitted
        artists = self._rows(artists, self.n_items, "artists")
        if len(artists) == 0:
            raise ValueError("a new listener needs at least one artist with a play count")
        values = np.asarray(plays, dtype=np.float64)
        if self.scaler is not None:
            values = RatingScaler.from_dict(self.scaler).transform(values)
        pick = torch.from_numpy(artists)
        vectors = model.item_factors.weight.detach().cpu()[pick].double()
        k, m, train = model.n_factors, len(artists), self.recipe.train
        target = torch.from_numpy(values)
        if model.biases:
            target = target - model.item_bias.weight.detach().cpu()[pick, 0].double()
            target = target - float(model.global_bias)
            vectors = torch.cat([vectors, torch.ones(m, 1, dtype=torch.float64)], 1)
        ridge = torch.full((vectors.shape[1],), train.l2 * m, dtype=torch.float64)
        if model.biases:
            ridge[-1] = train.bias_l2 * m + train.user_bias_ridge
        gram = vectors.T @ vectors + torch.diag(ridge.clamp_min(1e-9))
        row = torch.linalg.solve(gram, vectors.T @ target).float()
        return row[:k], float(row[k]) if model.biases else 0.0

    @classmethod
    def _restore(
        cls, model: PMF, played: sparse.csr_matrix | None, budget: float
    ) -> RatingRecommender:
        saved = dict(model.trained_with)
        for key in ("objective", "normalisation", "scaler", "id_maps"):
            saved.pop(key, None)
        rec = cls(
            Recipe.from_dict(saved) if saved else Recipe(), budget, model.trained_with.get("scaler")
        )
        rec.set_model(model, played)
        return rec


def load_recommender(path: str | Path) -> FactorRecommender:
    """The recommender a file holds, of whichever objective it records."""
    return FactorRecommender.load(path)
