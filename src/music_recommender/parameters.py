"""Every parameter of the pipelines about to run, checked before the first node does any work.

Kedro (1.3+) builds a dataclass for each ``params:`` input annotated with one, at catalog
creation; those dataclasses check their ranges (``__post_init__``) and, through
``pmf.checks.check_field_types``, their types. The few parameters that reach nodes as plain values
(``model``, the flat training recipe; ``preprocessing.normalisation``; counts) are checked here,
from the ``before_pipeline_run`` hook, so that a bad value stops a run in seconds with one line
naming the key, what was given and what is expected, instead of after minutes of work.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from music_recommender.errors import UserError
from music_recommender.pmf.checks import check_model_memory
from music_recommender.pmf.errors import SettingError
from music_recommender.pmf.scaling import METHODS

logger = logging.getLogger(__name__)


class ParameterError(UserError, ValueError):
    """A parameter a user set has the wrong type or value."""


def _model(value: Any) -> None:
    from music_recommender.pmf.recipe import Recipe  # noqa: PLC0415 (torch only when needed)

    if not isinstance(value, dict):
        raise ParameterError(f"model must be a mapping of settings; got {value!r}")
    try:
        Recipe.from_dict(value, where="model")
    except (TypeError, ValueError) as exc:
        raise ParameterError(str(exc)) from None


def _one_of(key: str, options: Sequence[str]) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if value not in options:
            raise ParameterError(f"{key} must be one of {', '.join(options)}; got {value!r}")

    return check


def _count(key: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ParameterError(f"{key} must be an integer >= 0; got {value!r}")

    return check


def _threads(value: Any) -> None:
    if value is None or value == "auto":
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(
            f"compute.torch_threads must be null, auto or an integer >= 1; got {value!r}"
        )


def _flag(key: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if value is not None and not isinstance(value, bool):
            raise ParameterError(f"{key} must be null, true or false; got {value!r}")

    return check


# Parameters that nodes take as plain values (the dataclass ones check themselves).
CHECKS: dict[str, Callable[[Any], None]] = {
    "model": _model,
    "preprocessing.normalisation": _one_of("preprocessing.normalisation", METHODS),
    "preprocessing.summary_sample_rows": _count("preprocessing.summary_sample_rows"),
    "reporting.examples.users": _count("reporting.examples.users"),
    "reporting.examples.artists": _count("reporting.examples.artists"),
    "compute.torch_threads": _threads,
    "compute.numpy_huge_pages": _flag("compute.numpy_huge_pages"),
}


def check_parameters(names: set[str], load: Callable[[str], Any]) -> None:
    """Check every parameter in ``names`` (dataset names, ``params:...``) that ``CHECKS`` knows.

    All problems are reported together, one per line.
    """
    problems = []
    for key, check in CHECKS.items():
        if f"params:{key}" not in names:
            continue
        try:
            check(load(f"params:{key}"))
        except ParameterError as exc:
            problems.append(str(exc))
    problems += _memory_problems(names, load)
    if problems:
        raise ParameterError("; ".join(problems))


# The models a run may fit, by the parameter that sizes them.
_SIZED = {"training.recommending.implicit": "implicit", "model": "rating"}


def _memory_problems(names: set[str], load: Callable[[str], Any]) -> list[str]:
    """Models too big for this machine, told before the run starts (when the id index exists)."""
    if "id_index" not in names:  # made by this run: the fit checks itself before allocating
        return []
    try:
        index = load("id_index")
        rows = int(index["n_users"]) + int(index["n_items"])
    except Exception:  # not made yet: the run will say so in its own words
        return []
    problems = []
    for key, objective in _SIZED.items():
        if f"params:{key}" not in names:
            continue
        block = load(f"params:{key}")
        size = (
            block.get("n_factors") if isinstance(block, dict) else getattr(block, "n_factors", None)
        )
        if isinstance(size, int) and not isinstance(size, bool):
            try:
                check_model_memory(objective, rows, size, f"{key}.n_factors")
            except SettingError as exc:
                problems.append(str(exc))
    return problems


def _leaves(tree: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, bool]]:
    """Every dotted key of a nested mapping, and whether it is a leaf (not a mapping)."""
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        yield dotted, not isinstance(value, dict)
        if isinstance(value, dict):
            yield from _leaves(value, dotted + ".")


def known_keys(conf_source: str | Path) -> set[str]:
    """Every parameter key the shared environments define, plus the catalog's runtime keys.

    ``conf/local`` is a user's own overrides, so it is what gets checked, not a source of keys;
    ``${runtime_params:raw_data_dir, ...}`` in the catalog makes ``raw_data_dir`` a key too.
    """
    root = Path(conf_source)
    keys: set[str] = set()
    for path in root.glob("*/parameters*.yml"):
        if path.parent.name != "local":
            keys |= {key for key, _ in _leaves(yaml.safe_load(path.read_text()) or {})}
    for path in root.rglob("*.yml"):
        keys |= set(re.findall(r"runtime_params:\s*([A-Za-z_]\w*)", path.read_text()))
    return keys


def check_keys(params: dict[str, Any], known: set[str]) -> None:
    """Refuse parameter keys no environment defines: a typo would otherwise be ignored silently.

    One line per misspelt block, naming a key under it and the key it was probably meant to be.
    """
    problems, reported = [], set()
    for key, leaf in _leaves(params):
        if not leaf or key in known:
            continue
        parts = key.split(".")
        depth = next(i for i in range(len(parts)) if ".".join(parts[: i + 1]) not in known)
        block = ".".join(parts[: depth + 1])
        if block in reported:
            continue
        reported.add(block)
        peers = [k for k in known if k.count(".") == depth]
        close = difflib.get_close_matches(block, peers, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0] + key[len(block) :]}?" if close else ""
        problems.append(f"unknown parameter {key!r}{hint}")
    if problems:
        raise ParameterError("; ".join(problems))


def explicit_parameters(
    runtime_params: dict[str, Any] | None, local_conf: Path | None, params: dict[str, Any]
) -> dict[str, Any]:
    """``{dotted key: value}`` of the parameters a user set for this run: ``--params`` and their
    own ``conf/local`` (not a shared environment's). These beat the values tuning chose."""
    given: set[str] = set()
    given |= {key for key, _ in _leaves(runtime_params or {})}
    if local_conf is not None and local_conf.is_dir():
        for path in sorted(local_conf.glob("parameters*.yml")):
            tree = yaml.safe_load(path.read_text()) or {}
            if isinstance(tree, dict):
                given |= {key for key, _ in _leaves(tree)}
    leaves = dict(_values(params))
    # Every parameter lives in a pipeline's block (``model.l2``); a top-level key given with
    # --params (``raw_data_dir``) is the catalog's, not a parameter.
    return {key: leaves[key] for key in sorted(given) if key in leaves and "." in key}


def _values(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted leaves of nested mappings and of the dataclasses Kedro builds from them."""
    if hasattr(tree, "__dataclass_fields__") and not isinstance(tree, type):
        tree = {name: getattr(tree, name) for name in tree.__dataclass_fields__}
    for key, value in tree.items():
        nested = isinstance(value, dict) or (
            hasattr(value, "__dataclass_fields__") and not isinstance(value, type)
        )
        if nested and (value or not isinstance(value, dict)):
            yield from _values(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def kept_explicit(
    tuned_keys: dict[str, str], tuned: dict[str, Any], explicit: dict[str, Any]
) -> set[str]:
    """The tuned settings the user set themselves for this run (logged: theirs are used)."""
    mine = {name for name, key in tuned_keys.items() if key in explicit and name in tuned}
    for name in sorted(mine):
        key = tuned_keys[name]
        logger.info(
            "%s=%s was given for this run: it is used instead of the tuned %s=%s",
            key,
            explicit[key],
            name,
            tuned[name],
        )
    return mine
