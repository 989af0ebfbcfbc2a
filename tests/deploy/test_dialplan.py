"""deploy/asterisk/extensions.conf walked the way Asterisk runs it, for the
situations the operator guide promises: the IVR's queue, the IVR unreachable
or dead mid-session (fallback queue, no survey), click-to-call into
`from-agents`, and whatever extension a provider sends into `from-pstn`.

The walker below reads the file with pyst2's parser and follows Asterisk's
rules for what the file uses: exact extensions before patterns (X, Z, N,
[...], `.`, `!`), priorities with `same => n(label)`, GotoIf on `$["${V}" =
""]` comparisons, Goto, Queue's `c` option (continue after the agent hangs
up; without it the call ends with the agent) and Hangup."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import asterisk.config
import pytest

from agent_api.controls import dialable
from atiende.settings import Settings
from telephony.queue_config import load_queues_conf

CONF = Path(__file__).resolve().parents[2] / "deploy" / "asterisk"


def _contexts() -> dict[str, list[tuple[str, str]]]:
    config = asterisk.config.Config(str(CONF / "extensions.conf"))
    return {c.name: [(i.name, i.value.strip()) for i in c.items] for c in config.categories}


def _pattern(text: str) -> re.Pattern[str]:
    """An Asterisk extension pattern (without its `_`) as a regex."""
    out, i = "", 0
    while i < len(text):
        char = text[i]
        if char == "[":
            end = text.index("]", i)
            out += "[" + re.sub(r"([\\\]^])", r"\\\1", text[i + 1 : end]) + "]"
            i = end
        else:
            out += {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}.get(
                char, re.escape(char)
            )
        i += 1
    return re.compile(out)


@dataclass
class Walk:
    """What a call did in the dialplan."""

    apps: list[str] = field(default_factory=list)
    agi_routes: list[str] = field(default_factory=list)
    queues: list[tuple[str, str]] = field(default_factory=list)  # (queue, options)
    dials: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)


class Dialplan:
    def __init__(self) -> None:
        raw = _contexts()
        self.globals = dict(raw.pop("globals"))
        raw.pop("general")
        # context -> [(extension, [(label, app)])]
        self.contexts: dict[str, list[tuple[str, list[tuple[str, str]]]]] = {}
        for name, items in raw.items():
            extens: list[tuple[str, list[tuple[str, str]]]] = []
            for key, value in items:
                if key == "exten":
                    exten, priority, app = value.split(",", 2)
                    assert priority == "1", value
                    extens.append((exten, [("", app)]))
                else:
                    assert key == "same", (name, key)
                    priority, app = value.split(",", 1)
                    label = re.fullmatch(r"n(?:\((\w+)\))?", priority)
                    assert label is not None, value
                    extens[-1][1].append((label.group(1) or "", app))
            self.contexts[name] = extens

    def find(self, context: str, exten: str) -> list[tuple[str, str]] | None:
        extens = self.contexts[context]
        for name, steps in extens:
            if name == exten:
                return steps
        patterns = [(name, steps) for name, steps in extens if name.startswith("_")]
        # More literal characters first: Asterisk's "most specific pattern wins".
        patterns.sort(key=lambda p: -sum(c.isdigit() or c == "+" for c in p[0][1:]))
        for name, steps in patterns:
            if _pattern(name[1:]).fullmatch(exten):
                return steps
        return None

    def expand(self, text: str, walk: Walk, exten: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "EXTEN":
                return exten
            return walk.variables.get(name, self.globals.get(name, ""))

        return re.sub(r"\$\{([A-Z_]+)\}", value, text)

    def run(
        self,
        context: str,
        exten: str,
        ivr: dict[str, str],
        *,
        answered: bool = True,
        agistatus: str = "SUCCESS",
    ) -> Walk:
        """Run a call; `ivr` holds the variables the IVR session leaves set."""
        walk = Walk()
        steps = self.find(context, exten)
        assert steps is not None, f"{exten!r} matches nothing in [{context}]"
        index = 0
        for _ in range(100):
            if index >= len(steps):
                return walk
            _, app = steps[index]
            index += 1
            name, _, args = app.partition("(")
            args = args[:-1]
            walk.apps.append(name)
            if name in ("NoOp", "Answer"):
                continue
            if name == "Set":
                key, _, val = args.partition("=")
                walk.variables[key] = self.expand(val, walk, exten)
            elif name == "AGI":
                walk.agi_routes.append(args.rsplit("/", 1)[1])
                walk.variables.update(ivr)
                walk.variables["AGISTATUS"] = agistatus
            elif name == "GotoIf":
                condition, _, label = args.rpartition("?")
                test = re.fullmatch(r'\$\["\$\{(\w+)\}" (=|!=) ""\]', condition)
                assert test is not None, condition
                empty = walk.variables.get(test.group(1), "") == ""
                if empty == (test.group(2) == "="):
                    index = next(i for i, (lab, _) in enumerate(steps) if lab == label)
            elif name == "Goto":
                parts = [self.expand(p, walk, exten) for p in args.split(",")]
                if len(parts) == 3:
                    context = parts[0]
                exten = parts[-2]
                found = self.find(context, exten)
                assert found is not None, (context, exten)
                steps, index = found, 0
            elif name == "Queue":
                queue, options = (self.expand(a, walk, exten) for a in args.split(",")[:2])
                walk.queues.append((queue, options))
                if not answered:
                    continue  # timeout: the dialplan goes on
                if "c" not in options:
                    return walk  # the agent hung up: so is the caller
                walk.variables["MEMBERINTERFACE"] = "PJSIP/4001"
            elif name == "Dial":
                walk.dials.append(self.expand(args, walk, exten))
            elif name == "Hangup":
                return walk
            else:
                raise AssertionError(f"the walker does not know {name}")
        raise AssertionError("dialplan loop")


@pytest.fixture(scope="module")
def plan() -> Dialplan:
    return Dialplan()


CHOSEN = {"ATIENDE_IVR_PATH": "reclamos", "ATIENDE_QUEUE": "reclamos"}


def test_the_ivr_choice_then_the_survey(plan: Dialplan) -> None:
    walk = plan.run("from-pstn", "s", CHOSEN)
    assert walk.agi_routes == ["ivr", "survey"]
    assert walk.queues[0][0] == "reclamos" and "c" in walk.queues[0][1]
    assert walk.variables["CHANNEL(language)"] == "es"  # where the prompts are
    # Nobody answered: no survey.
    assert plan.run("from-pstn", "s", CHOSEN, answered=False).agi_routes == ["ivr"]


@pytest.mark.parametrize(
    ("situation", "ivr", "agistatus"),
    [
        ("atiende serve unreachable or restarting", {}, "FAILURE"),
        ("the session died mid-flow", {"ATIENDE_IVR_PATH": "consultas"}, "SUCCESS"),
        ("the flow failed before choosing", {"ATIENDE_NOTICE_VERSION": "2026-01"}, "SUCCESS"),
    ],
)
def test_a_caller_the_ivr_could_not_place_reaches_the_fallback_queue(
    plan: Dialplan, situation: str, ivr: dict[str, str], agistatus: str
) -> None:
    walk = plan.run("from-pstn", "s", ivr, agistatus=agistatus)
    fallback = plan.globals["FALLBACK_QUEUE"]
    assert walk.queues == [(fallback, "t")], situation
    assert walk.agi_routes == ["ivr"], "no survey after a fallback"
    assert walk.variables["ATIENDE_IVR_FALLBACK"] == agistatus  # stored on the attention


def test_the_fallback_queue_is_the_ivrs_and_exists() -> None:
    assert Dialplan().globals["FALLBACK_QUEUE"] == Settings().ivr.fallback_queue
    assert Dialplan().globals["FALLBACK_QUEUE"] in load_queues_conf(CONF / "queues.conf")


def test_a_transfer_chosen_by_the_ivr(plan: Dialplan) -> None:
    walk = plan.run("from-pstn", "s", {"ATIENDE_TRANSFER": "4002"})
    assert walk.dials == ["PJSIP/4002,30"] and walk.queues == []


@pytest.mark.parametrize(
    "extension", ["s", "0", "59829001234", "+59829001234", "atencion", "Ciudadania", "*100"]
)
def test_whatever_the_provider_sends_enters_the_ivr(plan: Dialplan, extension: str) -> None:
    walk = plan.run("from-pstn", extension, CHOSEN)
    assert walk.agi_routes[0] == "ivr"


def test_hangup_extension_is_not_caught_by_the_pstn_patterns(plan: Dialplan) -> None:
    # A pattern matching `h` would re-run the IVR on a hung-up channel.
    assert plan.find("from-pstn", "h") is None


@pytest.mark.parametrize(
    ("typed", "dialled"),
    [
        ("099 123 456", "PJSIP/099123456@pstn,60"),
        ("+598 99 123 456", "PJSIP/+59899123456@pstn,60"),
        ("(2) 900-1234", "PJSIP/29001234@pstn,60"),
        ("4002", "PJSIP/4002,30"),
    ],
)
def test_click_to_call_lands_in_from_agents(plan: Dialplan, typed: str, dialled: str) -> None:
    """The panel's Originate (agent_api.controls) uses Settings' originate
    context and the number as `dialable` cleans it: a citizen goes out the
    trunk, a colleague's extension rings their phone."""
    context = Settings().api.originate_context
    assert context == "from-agents"
    walk = plan.run(context, dialable(typed), {})
    assert walk.dials == [dialled]


@pytest.mark.parametrize(
    ("number", "dialled"),
    [
        ("099123456", "PJSIP/099123456@pstn,30,U(atiende-callback-answered)"),
        ("+59899123456", "PJSIP/+59899123456@pstn,30,U(atiende-callback-answered)"),
    ],
)
def test_callbacks_ring_the_citizen_and_report_the_answer_and_dialstatus(
    plan: Dialplan, number: str, dialled: str
) -> None:
    """Settings' callback context exists with the patterns the simulator
    accepts; the citizen is dialled with the U() subroutine that marks the
    answer, after a hangup handler that reports DIALSTATUS (telephony.tracker
    reads both variables)."""
    from telephony.simulator.calls import CALLBACK_CONTEXT, DIALPLAN
    from telephony.tracker import CALLBACK_ANSWERED_VARIABLE, CALLBACK_RESULT_VARIABLE

    context = Settings().callbacks.context
    assert context == CALLBACK_CONTEXT
    assert sorted(DIALPLAN[context]) == sorted(p for p, _ in plan.contexts[context])
    walk = plan.run(context, number, {})
    assert walk.dials == [dialled]
    assert walk.variables["CHANNEL(hangup_handler_push)"] == "atiende-callback-end,s,1"
    answered = plan.find("atiende-callback-answered", "s")
    ended = plan.find("atiende-callback-end", "s")
    assert answered is not None and ended is not None
    assert answered[0][1] == f"Set({CALLBACK_ANSWERED_VARIABLE}=1)"
    assert ended[0][1] == f"Set({CALLBACK_RESULT_VARIABLE}=${{DIALSTATUS}})"
