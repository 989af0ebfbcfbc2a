"""Flow files: validation errors that name file and node, reload, the prompt catalogue."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from ivr.exceptions import FlowError
from ivr.flows import DEFAULT_FLOWS_DIR, FlowRegistry, load_flow, load_flows
from ivr.nodes import Notice
from ivr.prompts import load_catalogue

GOOD = """
start: hola
on_service_error: fin
nodes:
  hola:
    type: play
    prompts: [atiende/bienvenida]
    next: fin
  fin:
    type: hangup
"""


def write(directory: Path, name: str, text: str, mtime: int | None = None) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.mark.parametrize(
    ("text", "node", "fragment"),
    [
        (GOOD.replace("next: fin", "next: nowhere"), "hola", "unknown node 'nowhere'"),
        (GOOD.replace("type: play", "type: dance"), "hola", "unknown node type"),
        (GOOD.replace("atiende/bienvenida", "bad name;x"), "hola", "sound name"),
        (GOOD.replace("    next: fin\n", "    next: fin\n    colour: red\n"), "hola", "colour"),
        (GOOD.replace("    prompts: [atiende/bienvenida]\n", ""), "hola", "missing 'prompts'"),
    ],
)
def test_errors_name_the_file_and_the_node(
    tmp_path: Path, text: str, node: str, fragment: str
) -> None:
    path = write(tmp_path, "broken", text)
    with pytest.raises(FlowError) as info:
        load_flow(path)
    message = str(info.value)
    assert str(path) in message and f"node '{node}'" in message and fragment in message


def test_menu_and_queue_values_are_checked(tmp_path: Path) -> None:
    menu = (
        GOOD
        + """  menu:
    type: menu
    prompt: atiende/menu-principal
    options: {"12": fin}
    fallback: fin
"""
    )
    with pytest.raises(FlowError, match=r"node 'menu': 'options\.12\.\[key\]': one key"):
        load_flow(write(tmp_path, "m", menu))
    queue = (
        GOOD
        + """  cola:
    type: queue
    queue: "consultas,t,,,1"
"""
    )
    with pytest.raises(FlowError, match=r"node 'cola'.*queue"):
        load_flow(write(tmp_path, "q", queue))
    unsafe = (
        GOOD
        + """  poner:
    type: set
    variables: {ATIENDE_X: 'a"b'}
    next: fin
"""
    )
    with pytest.raises(FlowError, match="node 'poner'"):
        load_flow(write(tmp_path, "s", unsafe))


def test_top_level_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FlowError, match="start"):
        load_flow(write(tmp_path, "x", GOOD.replace("start: hola", "start: nada")))
    with pytest.raises(FlowError, match="YAML"):
        load_flow(write(tmp_path, "y", "nodes: [unclosed"))


def test_reload_picks_changes_and_keeps_old_flow_when_new_is_broken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "main", GOOD, mtime=1_000)
    now = [0.0]
    registry = FlowRegistry(tmp_path, check_interval=1.0, clock=lambda: now[0])
    assert registry.reload() == []
    first = registry.get("main")
    assert first is not None and first.start == "hola"

    write(tmp_path, "main", GOOD.replace("start: hola", "start: fin"), mtime=2_000)
    assert registry.get("main") is first  # within check_interval: no stat
    now[0] = 5.0
    second = registry.get("main")
    assert second is not None and second.start == "fin"

    write(tmp_path, "main", GOOD.replace("next: fin", "next: nowhere"), mtime=3_000)
    now[0] = 10.0
    with caplog.at_level(logging.ERROR, logger="ivr.flows"):
        assert registry.get("main") is second
    assert "nowhere" in caplog.text and "running version stays" in caplog.text


def test_shipped_flows_load_and_every_prompt_has_its_text() -> None:
    registry = load_flows(DEFAULT_FLOWS_DIR)
    assert {"default", "survey"} <= set(registry.names())
    catalogue = load_catalogue("es_UY")
    for name in registry.names():
        flow = registry.get(name)
        assert flow is not None
        custom = {p for p in flow.all_prompts() if p.startswith("atiende/")}
        assert custom, name
        missing = custom - set(catalogue)
        assert not missing, f"{name}: prompts without text: {sorted(missing)}"


def test_privacy_notice_text_covers_ley_18331() -> None:
    flow = load_flows(DEFAULT_FLOWS_DIR).get("default")
    assert flow is not None
    notices = [n for n in flow.nodes.values() if isinstance(n, Notice)]
    assert len(notices) == 1 and notices[0].version
    text = " ".join(load_catalogue("es_UY")[p] for p in notices[0].prompts)
    for needle in ("18.331", "finalidad", "derechos", "acceso", "supresión"):
        assert needle in text


def test_an_operators_folder_without_a_survey_gets_the_shipped_one(tmp_path: Path) -> None:
    write(tmp_path, "default", GOOD)
    registry = load_flows(tmp_path)
    assert registry.names() == ["default", "survey"]
    survey = registry.get("survey")
    assert survey is not None and survey.source == str(DEFAULT_FLOWS_DIR / "survey.yaml")
    # Its own survey, once written, replaces the shipped one at the next reload.
    write(tmp_path, "survey", GOOD)
    registry.reload()
    own = registry.get("survey")
    assert own is not None and own.source == str(tmp_path / "survey.yaml")


def test_a_flows_folder_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FlowError, match="flows folder does not exist"):
        load_flows(tmp_path / "nowhere")


def test_24_00_is_the_end_of_the_day(tmp_path: Path) -> None:
    import datetime as dt

    hours_flow = GOOD.replace(
        "  fin:\n",
        """  horario:
    type: hours
    schedule: {mon: ["20:00-24:00"]}
    national_holidays: false
    open: fin
    closed: fin
  fin:
""",
    )
    flow = load_flow(write(tmp_path, "default", hours_flow))
    hours = flow.business_hours()
    montevideo = dt.timezone(dt.timedelta(hours=-3))
    monday = dt.datetime(2026, 11, 23, 23, 59, 59, tzinfo=montevideo)
    assert hours.is_open(monday)
    assert hours.is_open(monday.replace(hour=20, minute=0, second=0))
    assert not hours.is_open(monday + dt.timedelta(seconds=1))  # Tuesday 00:00
    assert not hours.is_open(monday.replace(hour=19))


def test_a_flow_without_hours_serves_and_its_line_is_always_open(tmp_path: Path) -> None:
    """ivr/README.md calls hours optional: serve's wiring must not stop on it."""
    import datetime as dt

    from atiende.settings import IvrSettings, Settings
    from atiende.wiring import business_hours

    write(tmp_path, "default", GOOD)
    hours = business_hours(Settings(ivr=IvrSettings(flows_dir=tmp_path)))
    assert hours is not None
    christmas_night = dt.datetime(2026, 12, 25, 3, 0, tzinfo=dt.UTC)
    assert hours.is_open(christmas_night)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("type: menu\n    prompt: atiende/x\n    options: {'1': fin}\n    fallback: fin\n"
         "    timeout_ms: '5000'", "'timeout_ms': Input should be a valid integer"),
        ("type: collect\n    prompt: atiende/x\n    store: v\n    next: fin\n"
         "    fallback: fin\n    min_digits: 4\n    max_digits: 2",
         "max_digits is below min_digits"),
        ("type: queue\n    queue: consultas\n    callback: {threshold_seconds: 5,"
         " offer_prompt: atiende/x}", "missing 'callback.confirm_prompt'"),
        ("type: hours\n    schedule: {mon: ['18:00-09:00']}\n    open: fin\n    closed: fin",
         "'schedule.mon': time range ends before it starts"),
        ("type: hours\n    schedule: {lun: ['09:00-18:00']}\n    open: fin\n    closed: fin",
         "'schedule.lun.[key]'"),
        ("type: identify\n    by: email\n    found: fin\n    not_found: fin",
         "'by': Input should be"),
    ],
)  # fmt: skip
def test_typed_node_errors_name_the_field(tmp_path: Path, spec: str, fragment: str) -> None:
    path = write(tmp_path, "typed", GOOD + f"  nodo:\n    {spec}\n")
    with pytest.raises(FlowError) as info:
        load_flow(path)
    message = str(info.value)
    assert message.startswith(f"{path}: node 'nodo': "), message
    assert fragment in message, message
