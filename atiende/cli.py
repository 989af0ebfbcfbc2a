"""The `atiende` command.

atiende serve                  bridge, IVR, agent panel, /metrics and CRM sync
atiende worker                 CRM sync jobs and SLA scans on RQ (with Redis)
atiende user add NAME ...      create a user of the agent panel
atiende admin ...              set up organisms, units, referents, SLA hours, catalog, users
atiende replay CAPTURE.ami     run a raw AMI capture through the parser and tracker
atiende import-queue-log FILE  load an Asterisk queue_log (earlier history) into the reports
atiende migrate                bring the database schema up to date
atiende demo                   the quick-start demo on embedded defaults
atiende prompts build|check    the IVR's prompt recordings (synthesised offline, checked)
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from atiende import admin_cli, catalog_cli, prompts_cli, walkin_cli
from atiende.logs import configure_logging
from atiende.settings import ConfigurationError, Settings
from crm_bridge.organisms import Role
from telephony.exceptions import QueueConfigError


def _queue_level(text: str) -> tuple[str, int]:
    queue, sep, seconds = text.partition("=")
    if not sep or not queue or not seconds.isdigit() or int(seconds) < 1:
        raise argparse.ArgumentTypeError(f"expected QUEUE=SECONDS, got {text!r}")
    return queue, int(seconds)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atiende", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("serve", help="run the AMI bridge against the configured Asterisk")
    sub.add_parser("migrate", help="bring the database schema up to date")
    sub.add_parser("worker", help="run the CRM sync jobs and SLA scans (needs Redis)")
    imported = sub.add_parser(
        "import-queue-log", help="load an Asterisk queue_log (earlier history) into the reports"
    )
    imported.add_argument("file", type=Path)
    imported.add_argument(
        "--system", default=None, help="Asterisk system name (default: ATIENDE_AMI__SYSTEM_NAME)"
    )

    demo = sub.add_parser(
        "demo", help="a simulated Asterisk driving the bridge and the IVR, on a local database"
    )
    demo.add_argument("--speed", type=float, default=5.0, help="simulated time speed-up factor")
    demo.add_argument(
        "--duration", type=float, default=None, metavar="SECONDS", help="stop after SECONDS"
    )
    demo.add_argument(
        "--calls-per-minute", type=float, default=6.0, help="arrival rate (simulated time)"
    )
    demo.add_argument(
        "--channels", choices=("pjsip", "local"), default="pjsip", help="caller channel style"
    )
    demo.add_argument("--seed", type=int, default=1, help="random seed of the traffic")
    demo.add_argument(
        "--use-configured-database",
        action="store_true",
        help="seed ATIENDE_DATABASE_URL (demo users with printed passwords) instead of "
        f"the demo's own {DEMO_DATABASE_URL}",
    )

    prompts_cli.add_parser(sub)
    user = sub.add_parser("user", help="manage the agent panel's users")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser(
        "add",
        help="create a user (password from ATIENDE_USER_PASSWORD, or asked for)",
    )
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[role.value for role in Role])
    add.add_argument("--name", required=True, help="display name, e.g. 'Ana Gómez'")
    add.add_argument(
        "--interface",
        action="append",
        default=[],
        help="queue member interface of an agent, e.g. PJSIP/4001 (repeatable)",
    )

    admin_cli.add_parser(sub)
    catalog_cli.add_parser(sub)
    walkin_cli.add_parser(sub)

    replay = sub.add_parser("replay", help="run a raw AMI capture through the tracker")
    replay.add_argument("capture", type=Path)
    fmt = replay.add_mutually_exclusive_group()
    fmt.add_argument(
        "--jsonl",
        action="store_const",
        dest="fmt",
        const="jsonl",
        help="one JSON object per call (default)",
    )
    fmt.add_argument(
        "--summary",
        action="store_const",
        dest="fmt",
        const="summary",
        help="one JSON object keyed by queue",
    )
    replay.add_argument("--system", default="asterisk", help="Asterisk system name for the keys")
    replay.add_argument(
        "--service-level",
        type=int,
        default=None,
        metavar="SECONDS",
        help="default service-level threshold (default: settings, 20 s)",
    )
    replay.add_argument(
        "--queues-conf",
        type=Path,
        default=None,
        metavar="PATH",
        help="Asterisk's queues.conf: service levels per queue",
    )
    replay.add_argument(
        "--queue-service-level",
        type=_queue_level,
        action="append",
        default=[],
        metavar="QUEUE=SECONDS",
        help="threshold for one queue (repeatable)",
    )
    return parser


def _add_user(settings: Settings, args: argparse.Namespace) -> int:
    from agent_api.auth import Passwords
    from agent_api.exceptions import AgentApiError
    from agent_api.users import UserStore
    from atiende import wiring
    from crm_bridge.db import make_engine

    password = os.environ.get("ATIENDE_USER_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            print("atiende user add: set ATIENDE_USER_PASSWORD or run it in a terminal",
                  file=sys.stderr)  # fmt: skip
            return 2
        password = getpass.getpass("Contraseña: ")
        if getpass.getpass("Repetir contraseña: ") != password:
            print("atiende user add: the passwords differ", file=sys.stderr)
            return 2
    wiring.migrate(settings)
    engine = make_engine(settings.database_url)
    try:
        user = UserStore(engine, Passwords()).create(
            args.username, args.name, Role(args.role), password, args.interface
        )
    except AgentApiError as err:
        print(f"atiende user add: {err}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"user {user.username!r} ({args.role}) created")
    return 0


# The demo seeds users whose passwords it prints: its own file, never the
# database an operator configured for `serve`, unless asked in so many words.
DEMO_DATABASE_URL = "sqlite:///atiende-demo.db"


def _demo_settings(settings: Settings, use_configured: bool) -> Settings | None:
    if use_configured:
        return settings
    if "database_url" in settings.model_fields_set:
        print(
            "atiende demo: ATIENDE_DATABASE_URL is set; the demo would add users with known "
            "passwords to it. Unset it (the demo uses its own "
            f"{DEMO_DATABASE_URL}) or pass --use-configured-database.",
            file=sys.stderr,
        )
        return None
    return settings.model_copy(update={"database_url": DEMO_DATABASE_URL})


def _settings() -> Settings | None:
    """The settings, or None after saying which variable is wrong (the value is
    not repeated: it may be a secret)."""
    try:
        return Settings()
    except ValidationError as err:
        for problem in err.errors():
            print(f"atiende: {env_name(problem['loc'])}: {problem['msg']}", file=sys.stderr)
        return None


def env_name(loc: Sequence[int | str]) -> str:
    """("ami", "port") -> ATIENDE_AMI__PORT, the variable that sets the field."""
    return "ATIENDE_" + "__".join(str(part).upper() for part in loc)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = _settings()
    if settings is None:
        return 2
    try:
        configure_logging(settings.log_level, sys.stderr)
    except ValueError:
        print(f"atiende: ATIENDE_LOG_LEVEL: unknown level {settings.log_level!r}", file=sys.stderr)
        return 2
    if args.command == "replay":
        from atiende.replay_command import run
        from atiende.wiring import queue_configs, service_levels

        if args.queues_conf:
            settings = settings.model_copy(update={"queues_conf": args.queues_conf})
        levels = service_levels(settings, queue_configs(settings))
        levels.update(dict(args.queue_service_level))
        return run(
            args.capture,
            fmt=args.fmt or "jsonl",
            system=args.system,
            default_sl=args.service_level or settings.service_level_seconds,
            service_levels=levels,
            out=sys.stdout,
        )

    try:
        return _run(args, settings)
    except (ConfigurationError, QueueConfigError) as err:
        print(f"atiende: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from atiende import wiring

    if args.command == "migrate":
        wiring.migrate(settings)
        return 0
    if args.command == "user":
        return _add_user(settings, args)
    if args.command == "admin":
        return admin_cli.run(settings, args)
    if args.command == "presencial":
        return walkin_cli.run(settings, args)
    if args.command == "catalogo":
        return catalog_cli.run(settings, args)
    if args.command == "prompts":
        return prompts_cli.run(args, settings)
    if args.command == "worker":
        return wiring.run_worker_command(settings)
    if args.command == "import-queue-log":
        from dashboards.queue_log_import import import_queue_log_main

        wiring.migrate(settings)
        return import_queue_log_main(
            args.file,
            settings.database_url,
            args.system or settings.ami.system_name,
            phone_region=settings.phone_region,
        )
    try:
        if args.command == "serve":
            asyncio.run(wiring.serve(settings))
        elif args.command == "demo":
            from atiende.demo import run_demo

            demo_settings = _demo_settings(settings, args.use_configured_database)
            if demo_settings is None:
                return 2

            asyncio.run(
                run_demo(
                    demo_settings,
                    speed=args.speed,
                    duration=args.duration,
                    calls_per_minute=args.calls_per_minute,
                    style=args.channels,
                    seed=args.seed,
                )
            )
    except KeyboardInterrupt:
        pass
    except wiring.StartupError as err:
        print(f"atiende: {err}", file=sys.stderr)
        return 4
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
