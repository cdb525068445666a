"""notebooks/eda.ipynb runs top to bottom through the catalog (demo environment, a throw-away copy)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import PROJECT_ROOT


def test_eda_notebook_executes_without_errors(
    kedro_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = nbformat.read(PROJECT_ROOT / "notebooks" / "eda.ipynb", as_version=4)
    (kedro_project / "notebooks").mkdir()
    shutil.copy(PROJECT_ROOT / "notebooks" / "eda.ipynb", kedro_project / "notebooks")
    # The kernel inherits these: the demo data, no telemetry, the package importable from src/.
    monkeypatch.setenv("KEDRO_ENV", "demo")
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the notebook draws inline
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(PROJECT_ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    )
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(kedro_project / "notebooks")}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    outputs = [
        o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
    ]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "density %" in text and "'after'" in text
    assert any("image/png" in o.get("data", {}) for o in outputs), "the histogram is drawn"
