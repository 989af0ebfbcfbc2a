"""`atiende catalogo importar --formato tramites-gub|propio FILE`: load the
knowledge base from the State's open-data catalogue of trámites or from the
centre's own file (formats: crm_bridge.knowledge_import).

Topics are matched by code and only what differs is written, so running the
same file again changes nothing. Exit codes: 0 done, 1 refused (the message
says why), 2 bad arguments or an unreadable file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    """Register `catalogo` on the `atiende` command's subparsers."""
    catalog = sub.add_parser("catalogo", help="the knowledge base of trámites y servicios")
    actions = catalog.add_subparsers(dest="catalog_action", required=True, metavar="ACTION")
    imported = actions.add_parser(
        "importar", help="import or update topics from a catalogue file (idempotent)"
    )
    imported.add_argument(
        "--formato",
        required=True,
        choices=("tramites-gub", "propio"),
        help="tramites-gub: the State's open-data export (CSV/JSON); propio: the centre's "
        "own file (CSV/YAML/JSON)",
    )
    imported.add_argument("file", type=Path)


def run(settings: Any, args: argparse.Namespace) -> int:
    from agent_api.audit import AuditAction, AuditLog
    from atiende import wiring
    from crm_bridge.db import make_engine
    from crm_bridge.exceptions import StoreError
    from crm_bridge.knowledge import KnowledgeBase
    from crm_bridge.knowledge_import import PARSERS

    path: Path = args.file
    try:
        data = path.read_bytes()
    except OSError as err:
        print(f"atiende catalogo: cannot read {path}: {err.strerror}", file=sys.stderr)
        return 2
    wiring.migrate(settings)
    engine = make_engine(settings.database_url)
    try:
        entries = PARSERS[args.formato](data, path.name)
        result = KnowledgeBase(engine).upsert(entries)
        AuditLog(engine).record(
            AuditAction.ADMIN_CHANGE,
            actor_id=None,  # on the server's console: no panel user
            person_ids=[None],
            details={
                "resource": "topic",
                "op": "import",
                "format": args.formato,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
            },
        )
    except StoreError as err:
        print(f"atiende catalogo: {err}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(
        f"{result.created} topics created, {result.updated} updated, {result.unchanged} unchanged"
    )
    return 0
