"""A Kedro dataset for a recommender object: its model file, versionable, loaded without unpickling."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)

from music_recommender.atomic import atomic_writes
from music_recommender.pmf.errors import ModelFileError
from music_recommender.pmf.recommender import FactorRecommender


class RecommenderDataset(AbstractVersionedDataset[FactorRecommender, FactorRecommender]):
    """Save a recommender (``ImplicitRecommender``, ``RatingRecommender``); load it back ready.

    The file holds the model's weights, its settings and played pairs, read with
    ``torch.load(weights_only=True)``. Example catalog entry::

        rating_model:
          type: music_recommender.datasets.RecommenderDataset
          filepath: data/06_models/rating_model.pt
          versioned: true
    """

    def __init__(
        self,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath, version)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(fs_args or {}))
        self.metadata = metadata
        # Written beside and renamed (music_recommender.atomic): a crash mid-write never leaves a
        # truncated model, with or without the project's hooks.
        atomic_writes(self)
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def load(self) -> FactorRecommender:
        """Rebuild the recommender from its file."""
        path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(path, "rb") as f:
            data = f.read()
        try:
            return FactorRecommender.from_bytes(data, path)
        except ModelFileError as exc:
            raise DatasetError(str(exc)) from exc

    def save(self, data: FactorRecommender) -> None:
        """Write the model's weights, settings and played pairs."""
        if not isinstance(data, FactorRecommender):
            raise DatasetError(
                f"RecommenderDataset saves recommender objects, got {type(data).__name__}"
            )
        path = get_filepath_str(self._get_save_path(), self._protocol)
        self._fs.makedirs(str(PurePosixPath(path).parent), exist_ok=True)
        payload = data.to_bytes()
        with self._fs.open(path, "wb") as f:  # atomic: see __init__
            f.write(payload)
        self._invalidate_cache()

    def _exists(self) -> bool:
        try:
            path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(path)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "version": self._version}

    def _release(self) -> None:
        super()._release()
        self._invalidate_cache()

    def _invalidate_cache(self) -> None:
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))
