"""What the dashboards' browser tests share: Chromium, a database of their
own (the `browser_db` fixture, in conftest.py), a free port, axe-core."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_INSTALLED = shutil.which("chromium") is not None or os.path.exists(CHROMIUM)
AXE = Path(__file__).parents[1] / "agent_api" / "vendor" / "axe.min.js"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def axe_violations(page: Any) -> list[dict[str, Any]]:
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({id: v.id, impact: v.impact,
                nodes: v.nodes.map(n => n.target.join(" "))}));
        }"""
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]
