"""`atiende prompts`: build, check and brief the IVR's custom prompts (ivr.sounds).

atiende prompts build [--sounds DIR]   synthesise every prompt the flows use (espeak-ng + sox)
atiende prompts check [--sounds DIR]   list the prompts the flows use that are missing or empty
atiende prompts brief [--out FILE]     the studio's recording script (every prompt's text)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atiende.settings import Settings

DEFAULT_SOUNDS = Path("sounds")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prompts = sub.add_parser("prompts", help="build and check the IVR's prompt recordings")
    actions = prompts.add_subparsers(dest="prompts_command", required=True, metavar="ACTION")
    for name, text in (
        ("build", "synthesise the prompts the flows use (offline: espeak-ng and sox)"),
        ("check", "list the prompts the flows use that are missing or empty; exit 1 if any"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument(
            "--sounds",
            type=Path,
            default=None,
            metavar="DIR",
            help="Asterisk's sounds folder (default: ATIENDE_IVR__SOUNDS_DIR, else ./sounds); "
            "files go to DIR/<language>/atiende/<name>.<format>",
        )
    build = actions.choices["build"]
    build.add_argument("--voice", default=None, help="espeak-ng voice (default: best Spanish)")
    build.add_argument(
        "--force", action="store_true", help="also overwrite studio recordings and unchanged files"
    )
    for action in (build, actions.add_parser("brief", help="write the studio's recording script")):
        action.add_argument(
            "--catalogue",
            type=Path,
            default=None,
            metavar="FILE",
            help="prompt texts (default: ivr/prompts/es_UY.yaml)",
        )
    actions.choices["brief"].add_argument(
        "--out", type=Path, default=None, metavar="FILE", help="write here instead of stdout"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from atiende.wiring import ivr_flows
    from ivr import sounds
    from ivr.exceptions import FlowError
    from ivr.prompts import load_catalogue

    try:
        registry = ivr_flows(settings)
    except FlowError as err:
        print(f"atiende prompts: {err}", file=sys.stderr)
        return 2
    flows = [flow for name in registry.names() if (flow := registry.get(name)) is not None]
    used = sounds.used_prompts(flows)
    sounds_dir = getattr(args, "sounds", None) or settings.ivr.sounds_dir or DEFAULT_SOUNDS

    if args.prompts_command == "check":
        problems = sounds.check(sounds_dir, used)
        for problem in problems:
            where = sounds.folder(sounds_dir, problem.prompt)
            print(f"{problem.prompt.name}: {problem.reason} (in {where})")
        print(f"{len(used) - len(problems)} of {len(used)} prompts ready in {sounds_dir}",
              file=sys.stderr)  # fmt: skip
        return 1 if problems else 0

    catalogue = args.catalogue
    try:
        texts = load_catalogue(path=catalogue) if catalogue else load_catalogue()
    except (OSError, FlowError) as err:
        print(f"atiende prompts: {err}", file=sys.stderr)
        return 2
    if args.prompts_command == "brief":
        text = sounds.studio_brief(used, texts)
        if args.out is None:
            sys.stdout.write(text)
        else:
            args.out.write_text(text, encoding="utf-8")
        return 0

    voice = sounds.pick_voice(args.voice)
    try:
        report = sounds.build(sounds_dir, used, texts, voice=voice, force=args.force)
    except sounds.SoundsError as err:
        print(f"atiende prompts build: {err}", file=sys.stderr)
        return 1
    for prompt in report.kept_recordings:
        print(f"{prompt.name}: kept (a recording the synthesiser did not write)")
    print(
        f"{len(report.built)} built, {len(report.unchanged)} unchanged, "
        f"{len(report.kept_recordings)} recordings kept, voice {voice}, in {sounds_dir}"
    )
    return 0
