"""What every browser test shares: Debian's Chromium, its launch options,
axe-core (vendored in tests/agent_api/vendor) and logging in through the page."""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_INSTALLED = shutil.which("chromium") is not None or os.path.exists(CHROMIUM)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AXE = Path(__file__).parents[1] / "agent_api" / "vendor" / "axe.min.js"
VIEWPORT = {"width": 1366, "height": 768}
NO_CHROMIUM = "Debian's chromium is not installed (apt-get install -y chromium)"


def require_chromium() -> Any:
    """Skips (allow-listed reason) without Chromium; returns playwright.async_api."""
    if not CHROMIUM_INSTALLED:
        pytest.skip(NO_CHROMIUM)
    return pytest.importorskip("playwright.async_api")


async def launch(playwright: Any) -> Any:
    """Debian's Chromium, headless (Playwright never downloads a browser here)."""
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


async def axe_violations(
    page: Any, impacts: Collection[str] | None = ("serious", "critical")
) -> list[dict[str, Any]]:
    """The axe-core findings on the page of these `impacts` (None: all of them).

    Evaluated through the DevTools protocol, so the page's CSP (no inline
    scripts) stays on while axe runs."""
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({id: v.id, impact: v.impact,
                nodes: v.nodes.map(n => n.target.join(" "))}));
        }"""
    )
    return [v for v in found if impacts is None or v["impact"] in impacts]


async def log_in_page(page: Any, base: str, username: str, password: str) -> None:
    """Logs in through the panel's form as a person would (keyboard only)."""
    await page.goto(f"http://{base}/")
    await page.focus("#username")
    await page.keyboard.type(username)
    await page.keyboard.press("Tab")
    await page.keyboard.type(password)
    await page.keyboard.press("Enter")
    # The login page sends each role to its home (agent_api/web/nav.py).
    await page.wait_for_url(lambda url: "/ingresar" not in url)


async def switch_user(page: Any, url: str, username: str, password: str) -> None:
    """Signs the page's browser context in afresh as `username` (its cookies
    cleared first) through the login form; `url`: http://host:port."""
    await page.context.clear_cookies()
    await page.goto(f"{url}/ingresar")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")
