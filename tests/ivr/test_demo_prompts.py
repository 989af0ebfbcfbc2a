"""The demo plays against the prompts folder it is given: prompts missing there
are missing in the simulated Asterisk too, and callers still reach agents."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

from atiende.demo import run_demo
from atiende.settings import ApiSettings, IvrSettings, Settings


async def test_demo_with_an_empty_sounds_folder_still_answers_calls(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    settings = Settings(
        database_url=f"sqlite:///{database}",
        metrics_port=0,
        api=ApiSettings(port=0),
        ivr=IvrSettings(sounds_dir=sounds),
    )
    out = io.StringIO()
    await run_demo(settings, speed=40, duration=3.0, calls_per_minute=40, out=out)
    text = out.getvalue()
    assert "IVR prompts    0 of " in text and str(sounds) in text
    with sqlite3.connect(database) as db:
        outcomes = dict(
            db.execute("SELECT outcome, count(*) FROM attentions GROUP BY outcome").fetchall()
        )
    assert outcomes.get("answered", 0) > 0, outcomes
