"""The Grafana provisioning files: up to date, consistent, and querying only
metrics that Atiende exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from dashboards import grafana_build
from dashboards.metric_names import exposed_names

METRIC = re.compile(r"\batiende_[a-z0-9_]+\b")
BOARDS = [
    "atiende-wallboard.json",
    "atiende-supervisor.json",
    "atiende-agents.json",
    "atiende-indicators.json",
]


def load(name: str) -> dict[str, Any]:
    return json.loads((grafana_build.GRAFANA_DIR / name).read_text(encoding="utf-8"))


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def test_committed_files_are_what_the_builder_writes() -> None:
    for relative, content in grafana_build.files().items():
        on_disk = (grafana_build.GRAFANA_DIR / relative).read_text(encoding="utf-8")
        assert on_disk == content, f"{relative} is stale: run python -m dashboards.grafana_build"


def test_uids_and_titles_are_unique() -> None:
    boards = [load(name) for name in BOARDS]
    assert len({b["uid"] for b in boards}) == len(boards)
    assert len({b["title"] for b in boards}) == len(boards)
    for board in boards:
        ids = [p["id"] for p in panels(board)]
        assert len(ids) == len(set(ids)), board["uid"]
        titles = [p["title"] for p in panels(board) if p["type"] != "row"]
        assert len(titles) == len(set(titles)), board["uid"]


@pytest.mark.parametrize("name", BOARDS)
def test_every_query_uses_exported_metrics(name: str) -> None:
    board = load(name)
    known = exposed_names()
    exprs = [t["expr"] for p in panels(board) for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in board["templating"]["list"]]
    assert exprs
    for expr in exprs:
        used = METRIC.findall(expr)
        assert used, expr
        unknown = set(used) - known
        assert not unknown, (expr, unknown)


@pytest.mark.parametrize("name", BOARDS)
def test_every_datasource_is_the_provisioned_one(name: str) -> None:
    provisioned = yaml.safe_load(
        (grafana_build.GRAFANA_DIR / "provisioning/datasources/atiende.yml").read_text()
    )
    (source,) = provisioned["datasources"]
    board = load(name)
    refs = [p["datasource"] for p in panels(board) if p["type"] != "row"]
    refs += [t["datasource"] for p in panels(board) for t in p.get("targets", [])]
    refs += [v["datasource"] for v in board["templating"]["list"]]
    assert refs
    for ref in refs:
        assert ref == {"type": source["type"], "uid": source["uid"]}


def test_panels_fit_the_grid_without_overlapping() -> None:
    for name in BOARDS:
        taken: set[tuple[int, int]] = set()
        for panel in panels(load(name)):
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24
            cells = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not cells & taken, (name, panel["title"])
            taken |= cells


def test_wallboard_repeats_a_row_per_queue_with_threshold_colours() -> None:
    board = load("atiende-wallboard.json")
    rows = [p for p in board["panels"] if p["type"] == "row"]
    assert [r.get("repeat") for r in rows] == ["queue"]
    tiles = [p for p in board["panels"] if p["type"] == "stat"]
    assert len(tiles) >= 6
    for tile in tiles:
        assert tile["options"]["colorMode"] == "background"
        steps = tile["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps[0]["value"] is None


def test_dashboard_provider_points_at_a_folder() -> None:
    provider = yaml.safe_load(
        (grafana_build.GRAFANA_DIR / "provisioning/dashboards/atiende.yml").read_text()
    )
    (entry,) = provider["providers"]
    assert entry["type"] == "file" and entry["options"]["path"].startswith("/")
