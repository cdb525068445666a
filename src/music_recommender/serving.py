"""The recommender as an MLflow model: each request a row, answered without the project's files.

    rows = pd.DataFrame([
        {"user_id": 2, "n": 10},                                    # a known listener
        {"listen": {"Depeche Mode": 1200.0, "The Cure": 300.0}},    # a new one, folded in
        {"similar_to": "Depeche Mode", "n": 5},                     # artists like one artist
    ])
    mlflow.pyfunc.load_model("models:/music-recommender@champion").predict(rows)

Optional per row: ``items`` (allow-list) and ``exclude`` (deny-list) of artist names or ids, and
``explain`` (true: each recommended artist's ``because``, the played artists whose plays make
most of its score, from ``ImplicitRecommender.explain``). The answer is one row per recommended
artist: ``request`` (the request's row), ``rank``, ``artist_id``, ``artist_name``, ``score``,
``because``. A bad request is one ``RequestError`` naming the field (HTTP 400 when served).

The model's artefacts: the recommender (``implicit_model.pt``), the id maps with names, and every
listener's plays (for explanations). ``answer`` is the plain function behind ``predict``. A plain
``mlflow.pyfunc.PythonModel``: the model is one object and three files, with no Kedro pipeline
to wrap (kedro-mlflow's ``pipeline_ml_factory`` serves an inference pipeline). Imports mlflow:
the command line imports this module only to read the registry.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydantic
from scipy import sparse

from music_recommender.errors import UserError

with warnings.catch_warnings():  # MLflow's own import notes the Any type hints of its modules
    warnings.simplefilter("ignore", UserWarning)
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

FIELDS = ("user_id", "listen", "similar_to", "n", "items", "exclude", "explain")
KINDS = ("user_id", "listen", "similar_to")  # exactly one per request
ANSWER = ("request", "rank", "artist_id", "artist_name", "score", "because")
EXAMPLE = [
    {"user_id": 2, "n": 10},
    {"listen": {"Depeche Mode": 1200.0, "The Cure": 300.0}, "n": 10, "explain": True},
    {"similar_to": "Depeche Mode", "n": 5},
]


class RequestError(UserError, ValueError):
    """A request the model cannot answer; the message names the field and what was expected."""


@dataclass(frozen=True)
class Served:
    """What answers: the recommender, the id maps with names, every listener's plays."""

    recommender: Any  # an ImplicitRecommender (pmf.recommender)
    user_rows: dict[int, int]  # user_id -> row
    artist_ids: np.ndarray  # row -> artist_id
    artist_names: np.ndarray  # row -> name
    plays: sparse.csr_matrix  # listeners x artists, each played pair's plays
    # Lookups by name (any case) and id, built once: a request names up to hundreds of artists.
    by_name: dict[str, int] = field(init=False, repr=False)
    by_id: dict[int, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_name: dict[str, int] = {}
        for row, name in enumerate(self.artist_names):
            by_name.setdefault(str(name).casefold(), row)  # the first of equal names
        object.__setattr__(self, "by_name", by_name)  # frozen: set once, here
        object.__setattr__(self, "by_id", {int(a): r for r, a in enumerate(self.artist_ids)})

    @classmethod
    def from_files(
        cls, model: str | Path, users: str | Path, artists: str | Path, plays: str | Path
    ) -> Served:
        """Read the model's artefacts (``RecommenderModel.artifacts``)."""
        from music_recommender.pmf.recommender import FactorRecommender  # noqa: PLC0415 (torch)

        recommender = FactorRecommender.load(model)
        user_map = pd.read_csv(users)
        artist_map = pd.read_csv(artists, keep_default_na=False).sort_values("artist_index")
        return cls(
            recommender,
            dict(
                zip(
                    user_map["user_id"].astype(int), user_map["user_index"].astype(int), strict=True
                )
            ),
            artist_map["artist_id"].to_numpy(dtype=np.int64),
            artist_map["artist_name"].astype(str).to_numpy(),
            sparse.load_npz(plays).tocsr(),
        )

    def artist_row(self, value: Any, field: str) -> int:
        """An artist by id (a number) or name (any case); unknown: the closest names."""
        if isinstance(value, int | np.integer) or (isinstance(value, str) and value.isdigit()):
            found = self.by_id.get(int(value))
            if found is not None:
                return found
        found = self.by_name.get(str(value).casefold())
        if found is not None:
            return found
        import difflib  # noqa: PLC0415

        close = difflib.get_close_matches(str(value), self.artist_names.tolist(), n=3, cutoff=0.5)
        hint = f"; closest: {', '.join(repr(c) for c in close)}" if close else ""
        raise RequestError(f"{field}: unknown artist {value!r}{hint}")


def answer(served: Served, request: dict[str, Any], number: int = 0) -> pd.DataFrame:
    """One request's ranked artists (see the module's docstring for the fields)."""
    given = {key: value for key, value in request.items() if _present(value)}
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        raise RequestError(
            f"unknown field(s) {', '.join(unknown)}; the fields are {', '.join(FIELDS)}"
        )
    kinds = [kind for kind in KINDS if kind in given]
    if len(kinds) != 1:
        raise RequestError(
            f"request {number}: give exactly one of user_id, listen, similar_to; got "
            f"{', '.join(kinds) or 'none'}"
        )
    n = _count(given.get("n", 10))
    rec = served.recommender
    items = _rows(served, given.get("items"), "items")
    exclude = _rows(served, given.get("exclude"), "exclude")
    history: tuple[np.ndarray, np.ndarray] | None = None
    if "similar_to" in given:
        artist = served.artist_row(given["similar_to"], "similar_to")
        index, scores = rec.similar_items([artist], n + len(exclude))
        index, scores = _drop(index[0], scores[0], exclude, items, artist, n)
    elif "user_id" in given:
        user = _user(served, given["user_id"])
        row = served.plays[user]
        history = (row.indices.astype(np.int64), row.data.astype(np.float64))
        played = sparse.csr_matrix(
            (np.ones(len(row.indices)), row.indices, [0, len(row.indices)]), shape=(1, rec.n_items)
        )
        n = min(n, rec.n_items - len(row.indices))
        ranked = rec.recommend(
            [user], n, user_items=played, items=_list(items), exclude=_list(exclude)
        )
        index, scores = ranked[0][0], ranked[1][0]
    else:
        history = _listen(served, given["listen"])
        n = min(n, rec.n_items - len(set(history[0].tolist())))
        index, scores = rec.recommend_new(*history, n, items=_list(items), exclude=_list(exclude))
    because = [""] * len(index)
    if given.get("explain") and history is not None:
        because = [_because(served, history, int(i)) for i in index]
    return pd.DataFrame(
        {
            "request": number,
            "rank": np.arange(1, len(index) + 1),
            "artist_id": served.artist_ids[np.asarray(index, dtype=np.int64)],
            "artist_name": served.artist_names[np.asarray(index, dtype=np.int64)],
            "score": np.asarray(scores, dtype=np.float64).round(6),
            "because": because,
        }
    )


def answer_all(served: Served, requests: pd.DataFrame | list[dict[str, Any]]) -> pd.DataFrame:
    """Every request's answer, one after another (``request`` says whose)."""
    rows = requests.to_dict("records") if isinstance(requests, pd.DataFrame) else list(requests)
    frames = [answer(served, dict(row), i) for i, row in enumerate(rows)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ANSWER)


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return not (isinstance(value, list | tuple | np.ndarray | dict) and len(value) == 0)


def _count(value: Any) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer | float)
        or value != int(value)
        or value < 1
    ):
        raise RequestError(f"n must be an integer >= 1; got {value!r}")
    return int(value)


def _user(served: Served, value: Any) -> int:
    try:
        user_id = int(value)
    except (TypeError, ValueError):
        raise RequestError(f"user_id must be a listener's id (an integer); got {value!r}") from None
    if user_id != value and not isinstance(value, str):
        raise RequestError(f"user_id must be a listener's id (an integer); got {value!r}")
    if user_id not in served.user_rows:
        ids = np.array(sorted(served.user_rows))
        closest = ids[np.argsort(np.abs(ids - user_id), kind="stable")[:3]]
        raise RequestError(
            f"user_id {user_id} is not a listener the model knows (closest ids: "
            f"{', '.join(map(str, sorted(closest)))}); a new listener is asked with listen"
        )
    return served.user_rows[user_id]


def _listen(served: Served, value: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise RequestError("listen must map artist names or ids to plays") from None
    if not isinstance(value, dict) or not value:
        raise RequestError(f"listen must map artist names or ids to plays; got {value!r}")
    rows, plays = [], []
    for artist, count in value.items():
        if (
            isinstance(count, bool)
            or not isinstance(count, int | float)
            or not math.isfinite(count)
            or count <= 0
        ):
            raise RequestError(
                f"listen: the plays of {artist!r} must be a finite number > 0; got {count!r}"
            )
        rows.append(served.artist_row(artist, "listen"))
        plays.append(float(count))
    return np.array(rows, dtype=np.int64), np.array(plays)


def _rows(served: Served, values: Any, field: str) -> np.ndarray:
    if not _present(values):
        return np.zeros(0, dtype=np.int64)
    if isinstance(values, str | int):
        values = [values]
    return np.array([served.artist_row(v, field) for v in values], dtype=np.int64)


def _list(rows: np.ndarray) -> np.ndarray | None:
    return rows if len(rows) else None


def _drop(
    index: np.ndarray,
    scores: np.ndarray,
    exclude: np.ndarray,
    items: np.ndarray,
    artist: int,
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    keep = ~np.isin(index, exclude) & (index != artist)
    if len(items):
        keep &= np.isin(index, items)
    return index[keep][:n], scores[keep][:n]


def _because(
    served: Served, history: tuple[np.ndarray, np.ndarray], item: int, top: int = 3
) -> str:
    why = served.recommender.explain(history[0], history[1], item)
    shares = [
        {"artist": str(served.artist_names[a]), "share": round(float(s), 4)}
        for a, s in zip(why.artists[:top], why.contributions[:top], strict=True)
    ]
    return json.dumps({"baseline": round(why.baseline, 4), "played": shares})


# ---------------------------------------------------------------------------- MLflow


class Request(pydantic.BaseModel):
    """One request: exactly one of ``user_id``, ``listen``, ``similar_to`` (see the module)."""

    user_id: int | None = None
    listen: dict[str, float] | None = None  # artist name (or id as text) -> plays
    similar_to: str | None = None
    n: int | None = None
    items: list[str] | None = None
    exclude: list[str] | None = None
    explain: bool | None = None


class Answer(pydantic.BaseModel):
    """One recommended artist of one request."""

    request: int
    rank: int
    artist_id: int
    artist_name: str
    score: float
    because: str


class RecommenderModel(mlflow.pyfunc.PythonModel):
    """The implicit recommender, its id maps and plays: ``predict`` answers requests.

    Typed (``list[Request]``): MLflow checks each field's type before ``predict`` (over HTTP,
    ``{"inputs": [...]}``), and ``answer`` checks what the types cannot (n >= 1, known names,
    finite plays); either way a bad request is a 400 naming the field.
    """

    def load_context(self, context: Any) -> None:
        """Read the artefacts the model was logged with."""
        files = context.artifacts
        self.served = Served.from_files(
            files["model"], files["users"], files["artists"], files["plays"]
        )

    def predict(
        self, model_input: list[Request], params: dict[str, Any] | None = None
    ) -> list[Answer]:
        """Answer every request, in order (``request`` says whose)."""
        rows = [
            r.model_dump(exclude_none=True) if isinstance(r, pydantic.BaseModel) else dict(r)
            for r in model_input
        ]
        try:
            frame = answer_all(self.served, rows)
        except (RequestError, IndexError) as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
        return [Answer(**row) for row in frame.to_dict("records")]


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """A library's INFO lines held back for a moment (its warnings still show)."""
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        log.setLevel(level)


def _requirements() -> list[str]:
    """The packages the model needs, at this environment's versions."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    out = []
    for package in ("mlflow", "torch", "pandas", "numpy", "scipy", "pyarrow", "music-recommender"):
        try:
            out.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            out.append(package)
    return out


def plays_file(interactions: pd.DataFrame, n_users: int, n_items: int, folder: Path) -> Path:
    """Every listener's plays as a sparse matrix file (explanations of known listeners)."""
    matrix = sparse.csr_matrix(
        (
            interactions["weight"].to_numpy(dtype=np.float32),
            (interactions["user_index"].to_numpy(), interactions["artist_index"].to_numpy()),
        ),
        shape=(n_users, n_items),
    )
    path = folder / "plays.npz"
    sparse.save_npz(path, matrix)
    return path


def log_recommender(
    model: Path, users: Path, artists: Path, interactions: pd.DataFrame, name: str = "recommender"
) -> Any:
    """Log the pyfunc model in the active MLflow run; returns MLflow's ``ModelInfo``."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a log, not a terminal
    user_map = pd.read_csv(users)
    artist_map = pd.read_csv(artists, keep_default_na=False)
    with tempfile.TemporaryDirectory() as folder:
        plays = plays_file(interactions, len(user_map), len(artist_map), Path(folder))
        example = [{"user_id": int(user_map["user_id"].iloc[0]), "n": 10}]
        with warnings.catch_warnings(), _quiet("mlflow"):
            warnings.simplefilter("ignore")  # MLflow's notes on Any in the type hints
            return mlflow.pyfunc.log_model(
                name=name,
                python_model=str(Path(__file__).with_name("mlflow_model.py")),  # code, not a pickle
                # Named, not inferred: inference imports and inspects every module (seconds a run).
                pip_requirements=_requirements(),
                artifacts={
                    "model": str(model),
                    "users": str(users),
                    "artists": str(artists),
                    "plays": str(plays),
                },
                input_example=example,
            )


# ---------------------------------------------------------------------------- registry

RULES = ("best_ndcg", "every_run", "manual")  # when `champion` moves to a new version


def should_promote(rule: str, new_ndcg: float | None, champion_ndcg: float | None) -> bool:
    """Whether the new version becomes ``champion``: by ``rule``, against the current one."""
    if rule not in RULES:
        raise RequestError(
            f"tracking.registry.champion must be one of {', '.join(RULES)}; got {rule!r}"
        )
    if rule == "manual":
        return False
    if rule == "every_run" or champion_ndcg is None:
        return True
    return new_ndcg is not None and new_ndcg >= champion_ndcg


def register(
    model_uri: str, name: str, rule: str, ndcg: float | None, client: Any
) -> tuple[str, bool, float | None]:
    """Register ``model_uri`` as a version of ``name``: alias ``candidate`` always, ``champion``
    by ``rule``. Returns (version, promoted, the previous champion's NDCG@10 or None)."""
    import mlflow  # noqa: PLC0415

    # MLflow prints "Successfully registered ..." and "Created version ..." to stderr: the run's
    # own line says it (hooks/tracking.py); an error still raises.
    with _quiet("mlflow"), contextlib.redirect_stderr(io.StringIO()):
        version = mlflow.register_model(model_uri, name).version
    client.set_registered_model_alias(name, "candidate", version)
    try:
        champion = client.get_model_version_by_alias(name, "champion")
    except MlflowException:  # none yet
        champion = None
    before = None
    if champion is not None and champion.run_id:
        before = client.get_run(champion.run_id).data.metrics.get(NDCG_METRIC)
    promoted = should_promote(rule, ndcg, before)
    if promoted:
        client.set_registered_model_alias(name, "champion", version)
    return str(version), promoted, before


NDCG_METRIC = "ranking.models.implicit.ndcg_at_10"  # the run's holdout NDCG@10 in MLflow


def batch(model_uri: str, n: int = 10, chunk: int = 2048) -> pd.DataFrame:
    """Top ``n`` for every listener the model knows, from a logged or registered model
    (``models:/music-recommender@champion``): ``user_id`` beside each answer row."""
    model = mlflow.pyfunc.load_model(model_uri)
    served = model.unwrap_python_model().served
    users = sorted(served.user_rows)
    frames = []
    for start in range(0, len(users), chunk):
        ids = users[start : start + chunk]
        answers = answer_all(served, [{"user_id": u, "n": n} for u in ids])
        answers.insert(0, "user_id", np.asarray(ids)[answers["request"].to_numpy()])
        frames.append(answers.drop(columns=["request", "because"]))
    return pd.concat(frames, ignore_index=True)
