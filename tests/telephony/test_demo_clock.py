"""One clock for the live figures and the events they count.

The demo's simulator runs faster than the wall clock and stamps its events
with its own time. The bridge built with that clock as its `clock` shows the
longest wait a real centre would see: the time since the caller joined, on
the same clock as the join (the 15-minute window and the wrap-up ticks read
the same clock). (Before, the figures read the wall clock: the
wait came out negative, shown as 0 s, with a caller waiting.)
"""

from __future__ import annotations

import asyncio
import uuid

from pydantic import SecretStr

from atiende.settings import AmiSettings, Settings
from atiende.wiring import build_bridge, migrate
from telephony.queue_config import QueueConfig
from telephony.simulator.model import CallerSpec
from telephony.simulator.runner import Simulator, SimulatorConfig
from telephony.simulator.traffic import TrafficProfile


async def test_longest_wait_and_window_follow_the_simulators_clock(postgres_url: str) -> None:
    simulator = Simulator(
        SimulatorConfig(
            speed=5.0,
            queues={"reclamos": [("4003", "Carla Pérez")]},
            profile=TrafficProfile(mean_seconds_between_pauses=0),
            max_calls=0,
            no_answer_share=0.0,
        )
    )
    await simulator.start()
    settings = Settings(
        database_url=postgres_url,
        metrics_port=0,
        ami=AmiSettings(
            host="127.0.0.1",
            port=simulator.port,
            secret=SecretStr(simulator.config.secret),
            system_name=f"clock-{uuid.uuid4().hex[:8]}",
        ),
    )
    await asyncio.to_thread(migrate, settings)
    service = build_bridge(
        settings,
        clock=simulator.clock.now,
        queues={"reclamos": QueueConfig("reclamos", wrapup_seconds=3.0)},
    )
    await service.start()
    metrics = service.queue_metrics
    assert metrics is not None
    try:
        async with asyncio.timeout(30):
            await simulator.ami.subscribed.wait()
            simulator.sync()
            simulator.pbx.set_paused("PJSIP/4003", True, "Almuerzo")
            simulator.pbx.place_call(
                CallerSpec("099100001", "Ana Caller", ("2",), 1, 600, 2, "reclamos")
            )
            while not any(v.waiting for v in metrics.views()):
                await asyncio.sleep(0.02)
            joined = next(iter(simulator.pbx.waiting["reclamos"])).joined
            while simulator.clock.now() < joined + 10:
                await asyncio.sleep(0.02)
            view = next(v for v in metrics.views() if v.name == "reclamos")
            expected = simulator.clock.now() - joined
        assert view.waiting == 1
        assert expected - 1.0 <= view.longest_wait <= expected + 1.0
    finally:
        await simulator.freeze()
        await service.stop()
        await simulator.stop()
