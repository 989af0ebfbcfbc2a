"""Listen / whisper / barge: ChanSpy through Originate, validated before it reaches AMI."""

from __future__ import annotations

import pytest

from agent_api.controls import AmiAgentControls
from agent_api.exceptions import InvalidInput
from telephony.ami.actions import AmiAction, Originate, spy
from telephony.exceptions import InvalidActionValue


@pytest.mark.parametrize(
    ("mode", "options"), [("listen", "qE"), ("whisper", "qwE"), ("barge", "qBE")]
)
def test_each_mode_rings_the_supervisor_and_spies_on_one_interface(mode: str, options: str) -> None:
    action = spy("PJSIP/9001", "PJSIP/4001", mode)
    fields = dict(action.fields())
    assert fields["Channel"] == "PJSIP/9001"
    assert fields["Application"] == "ChanSpy"
    assert fields["Data"] == f"PJSIP/4001,{options}"


@pytest.mark.parametrize(
    ("listener", "target", "mode"),
    [
        ("PJSIP/9001", "PJSIP/4001", "record"),
        ("PJSIP/9001", "all", "listen"),
        ("PJSIP/9001", "PJSIP/4001,qE", "listen"),
        ("PJSIP/9001", "PJSIP/40\r\n01", "listen"),
        ("Nada/9001", "PJSIP/4001", "listen"),
    ],
)
def test_anything_else_is_refused(listener: str, target: str, mode: str) -> None:
    with pytest.raises(InvalidActionValue):
        spy(listener, target, mode)


@pytest.mark.parametrize("data", ["", "all", "PJSIP/4001", "PJSIP/4001,qEo(x)", "PJSIP/4001,r"])
def test_a_raw_chanspy_originate_takes_only_the_known_option_sets(data: str) -> None:
    with pytest.raises(InvalidActionValue):
        Originate(channel="PJSIP/9001", application="ChanSpy", data=data)


async def test_the_controls_send_it_and_refuse_bad_values_in_spanish() -> None:
    sent: list[AmiAction] = []

    async def send(action: AmiAction) -> dict[str, str]:
        sent.append(action)
        return {"Response": "Success"}

    controls = AmiAgentControls(send)  # type: ignore[arg-type]
    await controls.spy("PJSIP/9001", "PJSIP/4001", "whisper")
    assert dict(sent[0].fields())["Data"] == "PJSIP/4001,qwE"
    with pytest.raises(InvalidInput) as refused:
        await controls.spy("PJSIP/9001", "PJSIP/4001", "grabar")
    assert "no válido" in refused.value.detalle
    assert len(sent) == 1
