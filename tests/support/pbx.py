"""The telephony side of `atiende serve` for end-to-end tests, in this event loop.

The simulated Asterisk (telephony.simulator) runs the real FastAGI IVR with the
shipped flows (made open at every hour, so a test passes whatever the time in
Montevideo), and the real AMI bridge stores its calls and feeds the panel's pop
hub. A citizen's call then reaches the agent's browser the way a real one does:
IVR, queue, ringing, answer, over the WebSocket.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from agent_api.ws import PopHub
from atiende.settings import AmiSettings, IvrSettings, Settings
from atiende.wiring import BridgeService, build_bridge, build_ivr
from telephony.simulator.model import CallerSpec
from telephony.simulator.runner import Simulator, SimulatorConfig
from telephony.simulator.traffic import TrafficProfile
from tests.support.ports import free_port

IVR = Path(__file__).resolve().parents[2] / "ivr"
AMI_SECRET = "simulated-pbx-secret"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def always_open_flows(folder: Path, open_node: str = "aviso_privacidad") -> Path:
    """A copy of the shipped flows in `folder`, open every hour of every day;
    the open hours lead to `open_node` (the shipped one unless told)."""
    shutil.copytree(IVR / "calendars", folder / "calendars")
    flows = folder / "flows"
    shutil.copytree(IVR / "flows", flows)
    default = flows / "default.yaml"
    text = default.read_text(encoding="utf-8")
    for day in DAYS[:5]:
        text = text.replace(f'      {day}: ["09:00-18:00"]\n', "")
    text = text.replace(
        "    schedule:\n",
        "    schedule:\n" + "".join(f'      {d}: ["00:00-24:00"]\n' for d in DAYS),
    )
    text = text.replace("    national_holidays: true\n", "    national_holidays: false\n")
    text = text.replace("    calendar: ../calendars/feriados-uy.yaml\n", "")
    assert "    open: aviso_privacidad" in text
    default.write_text(
        text.replace("    open: aviso_privacidad", f"    open: {open_node}"), encoding="utf-8"
    )
    return flows


@dataclass
class SimulatedPbx:
    simulator: Simulator
    service: BridgeService
    settings: Settings

    def call(self, spec: CallerSpec) -> None:
        """The citizen dials in now (the simulator's clock)."""
        self.simulator.sync()
        self.simulator.pbx.place_call(spec)
        self.simulator.placed += 1


@contextlib.asynccontextmanager
async def simulated_pbx(
    engine: Engine,
    database_url: str,
    hub: PopHub,
    flows_dir: Path,
    *,
    queues: dict[str, list[tuple[str, str]]],
    system_name: str,
    speed: float = 4,
    settings: dict[str, Any] | None = None,
    **simulator: Any,
) -> AsyncIterator[SimulatedPbx]:
    """Simulator + IVR + bridge feeding `hub`, started and stopped around the block.

    `queues`: queue → [(extension, agent name)], members from the start (PJSIP/<extension>);
    `settings`: more Settings fields (e.g. callbacks); `simulator`: more SimulatorConfig
    fields. No traffic of its own: the test places each call with `SimulatedPbx.call`;
    agents never pause and always answer, and there is no survey."""
    agi_port = free_port()
    options: dict[str, Any] = {
        "survey": False,
        "no_answer_share": 0.0,
        "max_calls": 0,
        "wait_for_subscriber": True,
        "profile": TrafficProfile(mean_seconds_between_pauses=1e9),
    }
    options.update(simulator)
    sim = Simulator(
        SimulatorConfig(
            speed=speed,
            agi=("127.0.0.1", agi_port),
            secret=AMI_SECRET,
            queues=queues,
            **options,
        )
    )
    await sim.start()
    try:
        config = Settings(
            database_url=database_url,
            ami=AmiSettings(
                host="127.0.0.1",
                port=sim.port,
                username="atiende",
                secret=AMI_SECRET,
                system_name=system_name,
                reconnect_min=0.05,
                reconnect_max=0.2,
            ),
            ivr=IvrSettings(port=agi_port, flows_dir=flows_dir),
            **(settings or {}),
        )
        service = build_bridge(config, extra_sinks=[hub], engine=engine, clock=sim.clock.now)
        hub.record_of = service.tracker.record_of
        ivr = build_ivr(config, engine)
        await ivr.start()
        try:
            await service.start()
            try:
                yield SimulatedPbx(sim, service, config)
            finally:
                await service.stop()
        finally:
            await ivr.stop()
    finally:
        await sim.stop()
