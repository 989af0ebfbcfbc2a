"""`atiende presencial ...`: set up walk-in attention by script (what `atiende demo` seeds).

atiende presencial punto add CODE NAME [--espera-objetivo MIN] [--rellamados N]
atiende presencial tema add PUNTO CODE NAME LETRA [--catalogo CODE]
atiende presencial puesto add PUNTO CODE NAME [--temas CODE,CODE]
atiende presencial prioridad set CODE LABEL RANK
atiende presencial enlace sala PUNTO LABEL | enlace tableta PUNTO PUESTO LABEL
atiende presencial list

Points, topics and desks are named by code. A link's token is printed once
(only its hash is kept); revoke it on /admin/presencial or with the kiosk
links API. Every change goes through agent_api.walkin_setup, as the admin
screen's do (same checks, same audit).
Exit codes: 0 done, 1 refused (the message says why), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    root = sub.add_parser("presencial", help="set up walk-in attention: points, desks, links")
    kinds = root.add_subparsers(dest="walkin_resource", required=True, metavar="RESOURCE")
    point = kinds.add_parser("punto", help="service points").add_subparsers(
        dest="walkin_action", required=True
    )
    add = point.add_parser("add", help="create a service point")
    add.add_argument("code")
    add.add_argument("name")
    add.add_argument("--espera-objetivo", type=int, default=15, help="target wait, minutes")
    add.add_argument("--rellamados", type=int, default=2, help="recalls before a no-show")
    topic = kinds.add_parser("tema", help="topics of a point").add_subparsers(
        dest="walkin_action", required=True
    )
    add = topic.add_parser("add", help="add a topic with its turn letter")
    for name in ("point", "code", "name", "prefix"):
        add.add_argument(name)
    add.add_argument("--catalogo", default=None, help="catalog topic code")
    desk = kinds.add_parser("puesto", help="desks of a point").add_subparsers(
        dest="walkin_action", required=True
    )
    add = desk.add_parser("add", help="add a desk")
    for name in ("point", "code", "name"):
        add.add_argument(name)
    add.add_argument("--temas", default="", help="topic codes it serves (default: all)")
    priority = kinds.add_parser("prioridad", help="priority categories").add_subparsers(
        dest="walkin_action", required=True
    )
    put = priority.add_parser("set", help="add or change a category")
    put.add_argument("code")
    put.add_argument("label")
    put.add_argument("rank", type=int)
    link = kinds.add_parser("enlace", help="kiosk links").add_subparsers(
        dest="walkin_action", required=True
    )
    room = link.add_parser("sala", help="the waiting-room display of a point")
    room.add_argument("point")
    room.add_argument("label")
    tablet = link.add_parser("tableta", help="the evaluation tablet of a desk")
    tablet.add_argument("point")
    tablet.add_argument("desk")
    tablet.add_argument("label")
    kinds.add_parser("list", help="points, topics and desks")


def run(settings: Any, args: argparse.Namespace) -> int:
    from agent_api.audit import AuditLog
    from agent_api.exceptions import AgentApiError
    from agent_api.walkin_setup import WalkinSetup
    from atiende import wiring
    from crm_bridge.contacts import ContactAttentions
    from crm_bridge.db import make_engine
    from crm_bridge.exceptions import StoreError
    from crm_bridge.turns import TurnService
    from dashboards.kiosk import KioskLinks

    wiring.migrate(settings)
    engine = make_engine(settings.database_url)
    turns = TurnService(engine, ContactAttentions(engine), timezone=settings.kpi.timezone)
    # The admin screen's service: the same checks, errors and audit rows.
    setup = WalkinSetup(turns, KioskLinks(engine), AuditLog(engine))
    try:
        return _dispatch(setup, engine, args)
    except AgentApiError as err:
        print(f"atiende presencial: {err.detalle}", file=sys.stderr)
        return 1
    except (StoreError, LookupError) as err:
        print(f"atiende presencial: {err}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _dispatch(setup: Any, engine: Any, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from crm_bridge.models import CatalogTopic

    resource = args.walkin_resource
    turns = setup.turns
    if resource == "list":
        for p in turns.points():
            print(f"{p.id}\t{p.code}\t{p.name}")
            for t in turns.topics(p.id):
                print(f"\ttema {t.prefix}\t{t.code}\t{t.name}")
            for d in turns.desks(p.id):
                print(f"\tpuesto\t{d.code}\t{d.name}")
        return 0
    if resource == "punto":
        made = setup.create_point(
            args.code,
            args.name,
            target_wait_minutes=args.espera_objetivo,
            max_recalls=args.rellamados,
            actor_id=None,
        )
        print(f"service point {made.code} created (id {made.id})")
    elif resource == "tema":
        catalog_id = None
        if args.catalogo:
            with engine.connect() as conn:
                catalog_id = conn.execute(
                    select(CatalogTopic.id).where(CatalogTopic.code == args.catalogo)
                ).scalar()
            if catalog_id is None:
                raise LookupError(f"no catalog topic {args.catalogo!r}")
        made = setup.add_topic(
            setup.point_by_code(args.point).id,
            args.code,
            args.name,
            args.prefix,
            catalog_topic_id=catalog_id,
            actor_id=None,
        )
        print(f"topic {made.code} ({made.prefix}) added")
    elif resource == "puesto":
        point = setup.point_by_code(args.point)
        topic_ids = setup.topics_by_code(point.id, args.temas.split(","))
        made = setup.add_desk(point.id, args.code, args.name, topic_ids, actor_id=None)
        print(f"desk {made.code} added")
    elif resource == "prioridad":
        setup.set_priority(args.code, args.label, args.rank, actor_id=None)
        print(f"priority {args.code} set")
    elif args.walkin_action == "sala":
        _, url = setup.issue_room_link(
            setup.point_by_code(args.point).id, args.label, actor_id=None
        )
        print(url)
    else:
        point = setup.point_by_code(args.point)
        desk = next((d for d in turns.desks(point.id) if d.code == args.desk), None)
        if desk is None:
            raise LookupError(f"no desk {args.desk!r} at {args.point!r}")
        _, url = setup.issue_tablet_link(desk.id, args.label, actor_id=None)
        print(url)
    return 0
