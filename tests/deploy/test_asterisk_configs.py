"""deploy/asterisk/*.conf against the code and the recordings they must agree
with: queues through pyst2's parser (telephony.queue_config), the dialplan
through pyst2's asterisk.config, manager.conf and pjsip.conf (templates and
#include, which pyst2 does not read) through the small parser below."""

from __future__ import annotations

import re
from pathlib import Path

import asterisk.config
import pytest

from ivr.flows import load_flows
from ivr.server import DEFAULT_ROUTES
from telephony import events as used
from telephony.ami.asterisk_side import parse_message, split_messages
from telephony.ami.connection import AmiConnection
from telephony.queue_config import load_queues_conf
from telephony.simulator.traffic import DEFAULT_QUEUES

CONF = Path(__file__).resolve().parents[2] / "deploy" / "asterisk"
BRIDGE_ADDRESS = "172.28.1.20"


def sections(path: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(section, [(key, value)])] in file order; `#include` kept as a key;
    `=>` read as `=`; comments dropped; template markers ignored."""
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        header = re.fullmatch(r"\[([^\]]+)\](\(.*\))?", line)
        if header:
            out.append((header.group(1), []))
        elif line.startswith("#include"):
            out[-1][1].append(("#include", line.split(None, 1)[1].strip('"')))
        else:
            key, sep, value = line.replace("=>", "=").partition("=")
            assert sep, f"{path.name}: not key = value: {raw!r}"
            out[-1][1].append((key.strip(), value.strip()))
    return out


def section(path: Path, name: str) -> list[tuple[str, str]]:
    return [item for sec, items in sections(path) if sec == name for item in items]


def test_queues_parse_and_match_the_simulated_centre() -> None:
    queues = load_queues_conf(CONF / "queues.conf")
    assert set(queues) == set(DEFAULT_QUEUES)
    for queue in queues.values():
        assert queue.service_level and queue.wrapup_seconds > 0
    for name, people in DEFAULT_QUEUES.items():
        members = [v for k, v in section(CONF / "queues.conf", name) if k == "member"]
        expected = [f"PJSIP/{ext},0,{member},PJSIP/{ext}" for ext, member in people]
        assert members == expected


def manager_user() -> dict[str, list[str]]:
    user: dict[str, list[str]] = {}
    for key, value in section(CONF / "manager.conf", "atiende"):
        user.setdefault(key, []).append(value)
    return user


def classes(value: str) -> set[str]:
    return {c.strip().lower() for c in value.split(",") if c.strip()}


def test_bridge_user_has_least_privilege() -> None:
    user = manager_user()
    write = classes(user["write"][0])
    assert not write & {"all", "system", "command", "config", "user"}
    assert "secret" not in user, "the secret lives in the included file"
    assert user["#include"] == ["/etc/asterisk/secrets/atiende-ami.conf"]
    assert user["deny"] == ["0.0.0.0/0.0.0.0"]
    assert user["permit"] == [f"{BRIDGE_ADDRESS}/255.255.255.255"]
    general = dict(section(CONF / "manager.conf", "general"))
    assert general["timestampevents"] == "yes"
    assert general["webenabled"] == "no"


def test_bridge_user_reads_the_class_of_every_event_the_bridge_uses(recordings: Path) -> None:
    """Each used event's class, as the real Asterisk stamped it (Privilege)."""
    needed: set[str] = set()
    for capture in recordings.glob("*.ami"):
        for _, raw in split_messages(capture.read_bytes()):
            headers = parse_message(raw)
            if headers.get("Event") in used.USED_EVENTS and "Privilege" in headers:
                needed |= classes(headers["Privilege"]) - {"all"}
    assert needed, "the recordings stamp their events"
    assert needed <= classes(manager_user()["read"][0])


async def test_event_filters_are_the_bridge_filters() -> None:
    """The Filter actions a bridge with default settings would send."""
    bridge = AmiConnection(host="asterisk", port=5038, username="u", secret="s", system_name="t")
    assert manager_user()["eventfilter"] == bridge.filters


def dialplan() -> asterisk.config.Config:
    return asterisk.config.Config(str(CONF / "extensions.conf"))


def lines_of(context: str) -> list[str]:
    config = dialplan()
    category = next(c for c in config.categories if c.name == context)
    return [f"{item.name} => {item.value.strip()}" for item in category.items]


def test_dialplan_uses_the_routes_the_ivr_serves() -> None:
    lines = lines_of("from-pstn")
    routes = re.findall(r"AGI\(agi://\$\{AGI_HOST\}/([a-z_]+)\)", "\n".join(lines))
    assert routes == ["ivr", "survey"]
    flows = load_flows()
    for route in routes:
        assert route in DEFAULT_ROUTES
        assert flows.get(DEFAULT_ROUTES[route]) is not None, route


def test_survey_runs_after_the_agent_hangs_up() -> None:
    lines = lines_of("from-pstn")
    queue = next(i for i, line in enumerate(lines) if "Queue(${ATIENDE_QUEUE}" in line)
    survey = next(i for i, line in enumerate(lines) if "/survey)" in line)
    options = re.search(r"Queue\(\$\{ATIENDE_QUEUE\},([a-zA-Z]*)", lines[queue])
    assert options is not None and "c" in options.group(1)
    assert queue < survey
    assert any("MEMBERINTERFACE" in line for line in lines[queue:survey])
    queues = dict(section(CONF / "queues.conf", "atiende-base"))
    assert queues["setinterfacevar"] == "yes"


def pjsip_types() -> dict[tuple[str, str], dict[str, str]]:
    """(section name, type) -> options, templates applied."""
    templates: dict[str, dict[str, str]] = {}
    out: dict[tuple[str, str], dict[str, str]] = {}
    text = (CONF / "pjsip.conf").read_text(encoding="utf-8")
    current: dict[str, str] | None = None
    name = ""
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        header = re.fullmatch(r"\[([^\]]+)\](?:\(([^)]*)\))?", line)
        if header:
            if current is not None:
                out[(name, current.get("type", ""))] = current
            name, parent = header.group(1), header.group(2) or ""
            if parent == "!":
                current = templates.setdefault(name, {})
                name = ""
            else:
                current = dict(templates.get(parent, {}))
            continue
        assert current is not None
        key, _, value = line.partition("=")
        current[key.strip()] = value.strip()
    if current is not None and name:
        out[(name, current.get("type", ""))] = current
    return {k: v for k, v in out.items() if k[0]}


@pytest.mark.parametrize("queue", sorted(DEFAULT_QUEUES))
def test_every_member_phone_is_a_pjsip_endpoint(queue: str) -> None:
    objects = pjsip_types()
    contexts = {c.name for c in dialplan().categories}
    for extension, member in DEFAULT_QUEUES[queue]:
        endpoint = objects[(extension, "endpoint")]
        assert endpoint["context"] in contexts
        assert endpoint["auth"] == extension and endpoint["aors"] == extension
        assert member in endpoint["callerid"]
        assert (extension, "auth") in objects and (extension, "aor") in objects
    assert objects[("pstn", "endpoint")]["context"] == "from-pstn"
