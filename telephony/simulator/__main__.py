"""A simulated Asterisk on its own: `python -m telephony.simulator`.

Serves AMI on --port for a real `atiende serve` (ATIENDE_AMI__PORT, secret
--secret) and, with --agi HOST:PORT, runs each call's IVR step against that
FastAGI server (serve's own IVR, ATIENDE_IVR__PORT). Traffic starts when the
first client turns events on. Ctrl-C stops it. --queue-log writes Asterisk's
queue_log for the calls (the ground truth to compare the store with);
--missing-prompts and --agi-drop-after reproduce a missing sound file and an
AGI session dying mid-call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Sequence
from pathlib import Path

from telephony.simulator.runner import Simulator, SimulatorConfig
from telephony.simulator.traffic import TrafficProfile


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m telephony.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5038)
    parser.add_argument("--username", default="atiende")
    parser.add_argument("--secret", default="atiende")
    parser.add_argument("--agi", type=_address, default=None, metavar="HOST:PORT")
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--calls-per-minute", type=float, default=6.0)
    parser.add_argument("--channels", choices=("pjsip", "local"), default="pjsip")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-answer-share", type=float, default=0.05, help="rings an agent lets ring out"
    )
    parser.add_argument("--no-survey", action="store_true", help="no post-call survey")
    parser.add_argument(
        "--queue-log", type=Path, default=None, help="append Asterisk's queue_log for the calls"
    )
    parser.add_argument("--wrapup", type=float, default=3.0, help="queues' wrapuptime (seconds)")
    parser.add_argument(
        "--missing-prompts",
        default="",
        help="comma-separated sound files that do not exist ('*': all but beep)",
    )
    parser.add_argument(
        "--agi-drop-after", type=int, default=None, help="cut each FastAGI session after N commands"
    )
    return parser


async def _run(args: argparse.Namespace) -> None:
    simulator = Simulator(
        SimulatorConfig(
            speed=args.speed,
            style="local" if args.channels == "local" else "pjsip",
            host=args.host,
            port=args.port,
            username=args.username,
            secret=args.secret,
            agi=args.agi,
            profile=TrafficProfile(calls_per_minute=args.calls_per_minute),
            seed=args.seed,
            no_answer_share=args.no_answer_share,
            survey=not args.no_survey,
            queue_log=args.queue_log,
            wrapup_seconds=args.wrapup,
            missing_prompts=tuple(p for p in args.missing_prompts.split(",") if p),
            agi_drop_after=args.agi_drop_after,
        )
    )
    await simulator.start()
    print(f"simulated Asterisk: AMI on {args.host}:{simulator.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await simulator.stop()
    finished = ", ".join(f"{k} {v}" for k, v in sorted(simulator.outcomes().items()))
    print(f"calls finished: {finished or 'none'}")


def main(argv: Sequence[str] | None = None) -> int:
    asyncio.run(_run(_parser().parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
