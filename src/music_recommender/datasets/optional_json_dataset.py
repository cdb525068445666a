"""JSON that may not exist yet: loads a default instead of failing (e.g. tuned parameters)."""

from __future__ import annotations

from typing import Any

from kedro_datasets.json import JSONDataset


class OptionalJSONDataset(JSONDataset):
    """``json.JSONDataset`` whose load returns ``default`` (``{}``) when the file is absent.

    Lets ``kedro run --pipelines training`` start before any tuning run has written
    ``best_params.json``; the node reading it decides whether an empty value is acceptable.
    """

    def __init__(self, *, default: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._default = {} if default is None else default

    def load(self) -> Any:
        """The file's content, or the default when there is no file."""
        if not self.exists():
            return self._default
        return super().load()
