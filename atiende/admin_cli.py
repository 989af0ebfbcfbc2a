"""`atiende admin ...`: set a centre up by script (what /admin and /api/admin do).

atiende admin organism add CODE NAME | organism list
atiende admin unit add ORGANISM CODE NAME [--parent UNIT] | unit list ORGANISM
atiende admin referent add ORGANISM UNIT USERNAME | referent remove ORGANISM UNIT USERNAME
atiende admin sla set ORGANISM TYPE HOURS [--unit UNIT] | sla list
atiende admin topic import FILE.csv|FILE.json | topic set CODE NAME [...] | topic list
atiende admin user list | role USERNAME ROLE | interfaces USERNAME [IFACE...]
                   | deactivate USERNAME | activate USERNAME | password USERNAME

Organisms and units are named by code, users by username. Each change is
audited as the admin API's are (with no actor: it ran on the server).
Exit codes: 0 done, 1 refused (the message says why), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from crm_bridge.organisms import Role
from crm_bridge.ticket_rules import RequestType


def add_parser(sub: Any) -> None:
    """Register `admin` on the `atiende` command's subparsers."""
    admin = sub.add_parser("admin", help="set up organisms, units, referents, SLA, catalog, users")
    kinds = admin.add_subparsers(dest="admin_resource", required=True, metavar="RESOURCE")

    organism = kinds.add_parser("organism", help="organisms").add_subparsers(
        dest="admin_action", required=True, metavar="ACTION"
    )
    add = organism.add_parser("add", help="create an organism")
    add.add_argument("code")
    add.add_argument("name")
    organism.add_parser("list", help="list organisms")

    unit = kinds.add_parser("unit", help="units of an organism").add_subparsers(
        dest="admin_action", required=True, metavar="ACTION"
    )
    add = unit.add_parser("add", help="create a unit")
    add.add_argument("organism", help="organism code")
    add.add_argument("code")
    add.add_argument("name")
    add.add_argument("--parent", default=None, help="code of the parent unit")
    listed = unit.add_parser("list", help="list an organism's units")
    listed.add_argument("organism")

    referent = kinds.add_parser("referent", help="referents of a unit").add_subparsers(
        dest="admin_action", required=True, metavar="ACTION"
    )
    for action in ("add", "remove"):
        parser = referent.add_parser(action, help=f"{action} a unit's referent")
        parser.add_argument("organism")
        parser.add_argument("unit")
        parser.add_argument("username")

    sla = kinds.add_parser("sla", help="business hours to answer, per type").add_subparsers(
        dest="admin_action", required=True, metavar="ACTION"
    )
    put = sla.add_parser("set", help="set the hours of a request type")
    put.add_argument("organism")
    put.add_argument("request_type", choices=[t.value for t in RequestType])
    put.add_argument("hours", type=float)
    put.add_argument("--unit", default=None, help="unit code (default: the whole organism)")
    sla.add_parser("list", help="list the hours set")

    topic = kinds.add_parser("topic", help="the catalog of trámites y servicios").add_subparsers(
        dest="admin_action", required=True, metavar="ACTION"
    )
    imported = topic.add_parser("import", help="import a CSV or JSON file (upsert by code)")
    imported.add_argument("file", type=Path)
    put = topic.add_parser("set", help="create or edit one topic")
    put.add_argument("code")
    put.add_argument("name")
    put.add_argument("--kind", choices=("tramite", "servicio"), default="tramite")
    put.add_argument("--organism", default=None, help="organism a derivation goes to")
    put.add_argument("--unit", default=None, help="unit of that organism")
    put.add_argument("--inactive", action="store_true", help="hide it from the wrap-up")
    topic.add_parser("list", help="list topics (hidden ones too)")

    user = kinds.add_parser("user", help="panel users").add_subparsers(
        dest="admin_action", required=True, metavar="ACTION"
    )
    user.add_parser("list", help="list users")
    role = user.add_parser("role", help="change a user's role (ends their sessions)")
    role.add_argument("username")
    role.add_argument("role", choices=[r.value for r in Role])
    ifaces = user.add_parser("interfaces", help="set an agent's queue member interfaces")
    ifaces.add_argument("username")
    ifaces.add_argument("interfaces", nargs="*", help="e.g. PJSIP/4001 (none: clear)")
    for action in ("deactivate", "activate"):
        user.add_parser(action, help=f"{action} a user").add_argument("username")
    user.add_parser(
        "password", help="reset a password (from ATIENDE_USER_PASSWORD, or asked for)"
    ).add_argument("username")


def _password() -> str | None:
    password = os.environ.get("ATIENDE_USER_PASSWORD")
    if password is not None:
        return password
    if not sys.stdin.isatty():
        return None
    password = getpass.getpass("Contraseña nueva: ")
    if getpass.getpass("Repetir contraseña: ") != password:
        return None
    return password


def run(settings: Any, args: argparse.Namespace) -> int:
    from agent_api.audit import AuditLog
    from agent_api.auth import Passwords
    from agent_api.catalog import Catalog
    from agent_api.centre_setup import CentreSetup
    from agent_api.exceptions import AgentApiError
    from agent_api.users import UserStore
    from atiende import wiring
    from crm_bridge.db import make_engine
    from crm_bridge.exceptions import StoreError
    from crm_bridge.organisms import Directory

    wiring.migrate(settings)
    engine = make_engine(settings.database_url)
    setup = CentreSetup(
        Directory(engine), Catalog(engine), UserStore(engine, Passwords()), AuditLog(engine)
    )
    try:
        return _dispatch(setup, args)
    except AgentApiError as err:
        print(f"atiende admin: {err.detalle}", file=sys.stderr)
        return 1
    except StoreError as err:
        print(f"atiende admin: {err}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _dispatch(setup: Any, args: argparse.Namespace) -> int:
    from agent_api.catalog import TopicInput, parse_catalog

    resource, action = args.admin_resource, args.admin_action
    me = None  # on the server's console: no panel user
    if resource == "organism":
        if action == "add":
            made = setup.create_organism(args.code, args.name, actor_id=me)
            print(f"organism {made.code} created (id {made.id})")
        else:
            for o in setup.directory.organisms():
                print(f"{o.id}\t{o.code}\t{o.name}")
        return 0
    if resource == "unit":
        if action == "add":
            made = setup.create_unit(
                args.organism, args.code, args.name, parent=args.parent, actor_id=me
            )
            print(f"unit {made.code} created in {args.organism} (id {made.id})")
        else:
            org = setup.organism(args.organism)
            for u in setup.directory.units(org.id):
                print(f"{u.id}\t{'  ' * u.depth}{u.code}\t{u.name}")
        return 0
    if resource == "referent":
        unit = setup.unit(args.organism, args.unit)
        if action == "add":
            setup.add_referent(unit.id, args.username, actor_id=me)
            print(f"{args.username} is now a referent of {args.organism}/{unit.code}")
        else:
            setup.remove_referent(unit.id, setup.user(args.username).id, actor_id=me)
            print(f"{args.username} is no longer a referent of {args.organism}/{unit.code}")
        return 0
    if resource == "sla":
        if action == "set":
            setup.set_service_level(
                args.organism, args.request_type, args.hours, unit=args.unit, actor_id=me
            )
            where = args.organism + (f"/{args.unit}" if args.unit else "")
            print(f"{args.request_type} in {where}: {args.hours:g} business hours")
        else:
            organisms = {o.id: o.code for o in setup.directory.organisms()}
            for level in setup.directory.service_levels():
                unit = "" if level.unit_id is None else setup.unit_by_id(level.unit_id).code
                print(
                    f"{organisms.get(level.organism_id, level.organism_id)}\t{unit or '-'}\t"
                    f"{level.request_type.value}\t{level.business_hours:g}"
                )
        return 0
    if resource == "topic":
        if action == "import":
            try:
                data = args.file.read_bytes()
            except OSError as err:
                print(f"atiende admin: cannot read {args.file}: {err.strerror}", file=sys.stderr)
                return 2
            kind = "application/json" if args.file.suffix.lower() == ".json" else "text/csv"
            created, updated = setup.import_topics(parse_catalog(data, kind), actor_id=me)
            print(f"{created} topics created, {updated} updated")
        elif action == "set":
            saved = setup.save_topic(
                TopicInput(
                    code=args.code.strip(),
                    name=" ".join(args.name.split()),
                    kind=args.kind,
                    organism=args.organism,
                    unit=args.unit,
                    active=not args.inactive,
                ),
                actor_id=me,
            )
            print(f"topic {saved.code} saved (id {saved.id})")
        else:
            for t in setup.catalog.topics(include_inactive=True):
                state = "" if t.active else "\t(oculto)"
                print(f"{t.id}\t{t.code}\t{t.kind}\t{t.name}{state}")
        return 0
    # users
    if action == "list":
        for u in setup.users.all():
            state = "activo" if u.active else "inactivo"
            print(f"{u.id}\t{u.username}\t{u.role.value}\t{state}\t{','.join(u.interfaces)}")
        return 0
    target = setup.user(args.username)
    if action == "role":
        setup.update_user(target.id, role=Role(args.role), actor_id=me)
    elif action == "interfaces":
        setup.set_interfaces(target.id, args.interfaces, actor_id=me)
    elif action in ("deactivate", "activate"):
        setup.update_user(target.id, active=action == "activate", actor_id=me)
    else:
        password = _password()
        if password is None:
            print(
                "atiende admin: set ATIENDE_USER_PASSWORD or run it in a terminal "
                "(and type the same password twice)",
                file=sys.stderr,
            )
            return 2
        setup.update_user(target.id, password=password, actor_id=me)
    print(f"user {target.username}: {action} done")
    return 0
