"""`atiende replay CAPTURE.ami [--jsonl | --summary]`.

The calls come from telephony.replay (the bridge's own parser and tracker);
the summary is dashboards.kpi's queue_summary, the counting rule every other
figure uses.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TextIO

from dashboards.kpi import queue_summary
from telephony.replay import records_to_jsonl, replay_capture


def run(
    path: Path,
    *,
    fmt: Literal["jsonl", "summary"],
    system: str,
    default_sl: int,
    service_levels: Mapping[str, int],
    out: TextIO,
) -> int:
    """The `atiende replay` command. Exit codes: 0 done, 1 the file holds no
    AMI message, 2 the file cannot be read or the format is unknown. Errors
    go to stderr as one line."""
    if fmt not in ("jsonl", "summary"):
        print(f"atiende replay: unknown format {fmt!r} (jsonl or summary)", file=sys.stderr)
        return 2
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        print(f"atiende replay: {path}: no such file", file=sys.stderr)
        return 2
    except IsADirectoryError:
        print(f"atiende replay: {path}: is a directory, not a capture file", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"atiende replay: {path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return 2
    records, messages = replay_capture(data, system)
    if messages == 0:
        print(f"atiende replay: {path}: no AMI messages found", file=sys.stderr)
        return 1
    try:
        if fmt == "jsonl":
            records_to_jsonl(records, out)
        else:
            summary = queue_summary(records, default_sl=default_sl, service_levels=service_levels)
            out.write(json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True))
            out.write("\n")
    except BrokenPipeError:
        # `atiende replay x.ami | head`: the reader has all it wanted.
        return 0
    return 0
