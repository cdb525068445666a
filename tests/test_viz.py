"""kedro-viz sees four modular pipelines, every stored dataset in a layer, and data flowing in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PIPELINES = ["preprocessing", "tuning", "training", "reporting"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def graph() -> dict:
    """The graph kedro-viz serves at /api/main for this project (nothing is run or loaded)."""
    from kedro_viz.api.rest.responses.pipelines import get_pipeline_response  # noqa: PLC0415
    from kedro_viz.server import load_and_populate_data  # noqa: PLC0415

    load_and_populate_data(ROOT)
    return json.loads(get_pipeline_response().model_dump_json(by_alias=True))


NESTED = ["training.rating", "training.recommending"]
NESTED += ["tuning.rating", "tuning.recommending"]


def test_four_collapsible_modular_pipelines_training_and_tuning_nested(graph: dict) -> None:
    assert set(graph["modular_pipelines"]) == {"__root__", *PIPELINES, *NESTED}
    expanded = {n["id"] for n in graph["nodes"] if n["type"] == "modularPipeline"}
    assert expanded == {*PIPELINES, *NESTED}
    for parent in ("training", "tuning"):
        children = graph["modular_pipelines"][parent]["children"]
        inside = {c["id"] for c in children if c["type"] == "modularPipeline"}
        assert inside == {f"{parent}.rating", f"{parent}.recommending"}


def test_every_stored_dataset_has_a_layer_in_order(graph: dict) -> None:
    assert graph["layers"] == [
        "raw",
        "intermediate",
        "primary",
        "model_input",
        "models",
        "model_output",
        "reporting",
    ]
    data = [n for n in graph["nodes"] if n["type"] == "data"]
    unlayered = [
        n["name"]
        for n in data
        if not n.get("layer") and "MemoryDataset" not in (n.get("dataset_type") or "")
    ]
    assert unlayered == []
    names = [n["name"] for n in data]
    assert len(names) == len(set(names)), "a dataset appears twice"


def test_data_flows_preprocessing_tuning_training_reporting(graph: dict) -> None:
    nodes = {n["id"]: n for n in graph["nodes"]}
    home = {
        i: n["modular_pipelines"][0].split(".")[0]
        for i, n in nodes.items()
        if n["type"] == "task" and n.get("modular_pipelines")
    }
    produced_by = {e["target"]: home[e["source"]] for e in graph["edges"] if e["source"] in home}
    flows = {
        (produced_by[e["source"]], home[e["target"]])
        for e in graph["edges"]
        if e["source"] in produced_by and e["target"] in home
    }
    flows = {(a, b) for a, b in flows if a != b}
    order = {name: i for i, name in enumerate(PIPELINES)}
    assert {("preprocessing", "tuning"), ("tuning", "training"), ("training", "reporting")} <= flows
    assert all(order[a] < order[b] for a, b in flows), sorted(flows)


def test_parameters_grouped_per_pipeline(graph: dict) -> None:
    params = [n for n in graph["nodes"] if n["type"] == "parameters"]
    grouped = {n["name"]: n.get("modular_pipelines") for n in params}
    assert any(name.startswith("params:preprocessing.") for name in grouped)
    assert all(
        name.split(":")[1].split(".")[0] in {*PIPELINES, "model", "preprocessing"}
        for name in grouped
    )
