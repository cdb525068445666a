"""An Optuna study as one SQLite file, written atomically, loaded for inspection or to resume.

Why ours and not kedro-datasets' experimental ``optuna.StudyDataset``: that one deletes the
stored study and then copies the new one in, so a run stopped in between loses the last good
study, and its versioned form names study-name paths that this project's safe-run hook would take
for folders. Here a save copies the study into a fresh SQLite file beside the target and renames
it over the old one: the file holds the last complete study or the new one, never half of either.

Example catalog entry::

    recommending_study:
      type: music_recommender.datasets.OptunaStudyDataset
      filepath: data/06_models/recommending_study.db
      study_name: recommending

Inspect it with ``optuna.load_study(study_name="recommending",
storage="sqlite:///data/06_models/recommending_study.db")`` or ``optuna-dashboard``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from music_recommender.atomic import PARTIAL


class OptunaStudyDataset(AbstractDataset[Any, Any]):
    """Save an ``optuna.Study`` (all its trials) to ``filepath``; load it back, or None if absent."""

    def __init__(
        self,
        filepath: str,
        study_name: str,
        missing_ok: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = Path(filepath)
        self._study_name = study_name
        self._missing_ok = missing_ok  # load() gives None when there is no study yet
        self.metadata = metadata

    def load(self) -> Any:
        """The stored study (its sampler and pruner are the defaults: a resumed search sets its own)."""
        import optuna  # noqa: PLC0415 (only when a study is read)

        if not self._filepath.is_file():
            if self._missing_ok:
                return None
            raise DatasetError(f"no Optuna study at {self._filepath}: run the tuning pipeline")
        return optuna.load_study(study_name=self._study_name, storage=self._url(self._filepath))

    def save(self, data: Any) -> None:
        """Copy every trial into a new file beside the target, then rename it over the target."""
        import optuna  # noqa: PLC0415

        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        # Named as every partial save is (atomic.PARTIAL): a run killed here leaves a file that
        # the next run's start removes.
        handle, temporary = tempfile.mkstemp(
            dir=self._filepath.parent, prefix=f"{self._filepath.name}{PARTIAL}{os.getpid()}-"
        )
        os.close(handle)
        os.unlink(temporary)  # SQLite creates it: an empty file is not a database
        try:
            optuna.copy_study(
                from_study_name=data.study_name,
                from_storage=data._storage,
                to_storage=self._url(Path(temporary)),
                to_study_name=self._study_name,
            )
            os.replace(temporary, self._filepath)
        finally:
            Path(temporary).unlink(missing_ok=True)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "study_name": self._study_name}

    @staticmethod
    def _url(path: Path) -> str:
        return f"sqlite:///{path.resolve()}"
