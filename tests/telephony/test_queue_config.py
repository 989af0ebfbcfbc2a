"""queues.conf through pyst2's parser: the lab's files, templates, includes, errors."""

from __future__ import annotations

from pathlib import Path

import asterisk.config
import pytest

from telephony.exceptions import QueueConfigError
from telephony.queue_config import QueueConfig, load_queues_conf


def test_lab_queues(recordings: Path) -> None:
    queues = load_queues_conf(recordings / "lab-config" / "queues.conf")
    assert queues == {
        "consultas": QueueConfig("consultas", 20, 3.0, "rrmemory"),
        "reclamos": QueueConfig("reclamos", 30, 3.0, "leastrecent"),
    }


def test_pyst2_alone_refuses_templates(tmp_path: Path) -> None:
    """Why the file is prepared before pyst2 sees it."""
    conf = tmp_path / "queues.conf"
    conf.write_text("[base](!)\nwrapuptime = 5\n")
    with pytest.raises(asterisk.config.ParseError):
        asterisk.config.Config(str(conf))


def test_templates_includes_and_comments(tmp_path: Path) -> None:
    (tmp_path / "extra.conf").write_text("[tramites](base)\nservicelevel = 45 ; más tiempo\n")
    conf = tmp_path / "queues.conf"
    conf.write_text(
        "[general]\npersistentmembers = yes\n\n"
        "[base](!)\nwrapuptime = 5\nservicelevel = 15\nstrategy = ringall\n\n"
        "[ventas](base)\nstrategy = linear\n"
        "member => PJSIP/4001,0,Ana Gómez\n"
        '#include "extra.conf"\n'
        "#tryinclude missing.conf\n"
    )
    assert load_queues_conf(conf) == {
        "ventas": QueueConfig("ventas", 15, 5.0, "linear"),
        "tramites": QueueConfig("tramites", 45, 5.0, "ringall"),
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[q]\nservicelevel = veinte\n", "servicelevel is not a number"),
        ("[q]\nwrapuptime = -3\n", "wrapuptime is negative"),
        ("[q](nope)\n", r"unknown template \[nope\]"),
        ("[a](b)\n[b](a)\n", "template loop"),
        ("[q]\njust words\n", "name = value"),
        ('#include "loop.conf"\n', "nested too deeply"),
    ],
)
def test_errors_name_the_file(tmp_path: Path, text: str, problem: str) -> None:
    conf = tmp_path / "loop.conf"
    conf.write_text(text)
    with pytest.raises(QueueConfigError, match=problem) as raised:
        load_queues_conf(conf)
    assert str(conf) in str(raised.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(QueueConfigError, match="cannot read"):
        load_queues_conf(tmp_path / "absent.conf")


def test_the_deployed_queues_hold_an_agent_until_the_cierre_pause_lands() -> None:
    # Every queue of the deploy config has a wrapuptime: Asterisk itself keeps
    # the agent from a new call between the end of one and the AMI "Cierre"
    # pause (sent when AgentComplete reaches Atiende; milliseconds, a few
    # seconds at worst). Whole seconds: app_queue's hold is up to 1 s shorter.
    deployed = Path(__file__).resolve().parents[2] / "deploy" / "asterisk" / "queues.conf"
    queues = load_queues_conf(deployed)
    assert queues
    for name, queue in queues.items():
        assert queue.wrapup_seconds >= 5, name
