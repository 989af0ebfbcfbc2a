"""Every client (engine, Redis) is built in the composition root (atiende/) and
handed in: the panel's app and the CRM sync build none of their own."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILDERS = {"make_engine", "create_engine", "from_url", "Redis", "StrictRedis"}


def _calls(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def test_the_app_and_the_sync_build_no_client() -> None:
    for module in ("agent_api/app.py", "crm_bridge/sync/runtime.py", "crm_bridge/sync/worker.py"):
        assert not _calls(ROOT / module) & BUILDERS, module


def test_create_app_takes_services_not_an_engine() -> None:
    tree = ast.parse((ROOT / "agent_api/app.py").read_text())
    create = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "create_app")
    arguments = {a.arg for a in create.args.kwonlyargs}
    assert "engine" not in arguments and {"services", "followup"} <= arguments
