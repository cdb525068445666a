"""Save and load a PMF model as its state_dict plus the config that rebuilds it (no pickled objects).

A file may also carry named tensors beside the weights (a recommender's played pairs), and
JSON-like ``extra`` facts; everything loads with ``weights_only=True``.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from music_recommender.pmf.errors import ModelFileError
from music_recommender.pmf.model import PMF

FORMAT = "music_recommender.pmf/1"
__all__ = ["FORMAT", "ModelFileError", "from_bytes", "load_model", "save_model", "to_bytes"]


def to_bytes(
    model: PMF, extra: dict[str, Any] | None = None, arrays: dict[str, torch.Tensor] | None = None
) -> bytes:
    """Serialise ``model``, what it was trained with, JSON-like ``extra`` and named ``arrays``."""
    payload = {
        "arrays": {k: v.detach().cpu() for k, v in (arrays or {}).items()},
        "format": FORMAT,
        "config": model.config(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "trained_with": dict(model.trained_with),
        "extra": dict(extra or {}),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def read_payload(data: bytes, source: str = "<bytes>") -> tuple[PMF, dict[str, Any]]:
    """The model and the whole payload (``extra``, ``arrays``); never runs code from the file."""
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:
        # torch's own message may advise weights_only=False, which would run code from the file.
        raise ModelFileError(
            f"{source} is not a model file this project wrote, or it is damaged "
            "(it cannot be read as weights alone)"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ModelFileError(f"{source} is not a {FORMAT} model file (found format {found!r})")
    _check_tensors(payload, source)
    try:
        model = PMF(**payload["config"])
        model.load_state_dict(payload["state_dict"])
        model.trained_with = dict(payload.get("trained_with") or {})
    except (TypeError, RuntimeError, KeyError) as exc:
        raise ModelFileError(f"{source}: weights do not match the saved config: {exc}") from exc
    model.eval()
    return model, payload


def _check_tensors(payload: dict[str, Any], source: str) -> None:
    """Refuse, before anything is allocated, tables the config declares but the file does not
    hold (a crafted file could declare a billion rows), and weights that are not finite."""
    try:
        config, state = payload["config"], payload["state_dict"]
        n_users, n_items, k = (int(config[key]) for key in ("n_users", "n_items", "n_factors"))
    except (KeyError, TypeError, ValueError):
        raise ModelFileError(f"{source}: the model's config or weights are missing") from None
    expected = {
        "user_factors.weight": (n_users, k),
        "item_factors.weight": (n_items, k),
    }
    if config.get("biases", True):
        expected |= {"user_bias.weight": (n_users, 1), "item_bias.weight": (n_items, 1)}
    for name, shape in expected.items():
        tensor = state.get(name) if isinstance(state, dict) else None
        if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != shape:
            found = None if not isinstance(tensor, torch.Tensor) else tuple(tensor.shape)
            raise ModelFileError(
                f"{source}: {name} should be {shape} by its config but the file holds {found}"
            )
    if not all(torch.isfinite(t).all() for t in state.values() if isinstance(t, torch.Tensor)):
        raise ModelFileError(f"{source}: the model's weights are not all finite (NaN or inf)")


def from_bytes(data: bytes, source: str = "<bytes>") -> tuple[PMF, dict[str, Any]]:
    """Rebuild a model and its ``extra``; ``weights_only=True`` so a file can never run code."""
    model, payload = read_payload(data, source)
    return model, payload.get("extra", {})


def save_model(model: PMF, path: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Write atomically: a crash mid-write never leaves a truncated model at ``path``."""
    write_atomic(to_bytes(model, extra), path)


def write_atomic(data: bytes, path: str | Path) -> None:
    """``data`` to ``path`` through a temporary file and a rename: never a truncated file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)


def load_model(path: str | Path) -> tuple[PMF, dict[str, Any]]:
    """Read a model written by ``save_model``; returns the model (in eval mode) and its metadata."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    return from_bytes(path.read_bytes(), str(path))
