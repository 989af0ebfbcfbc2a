"""Each role's home page and navigation (one table, so pages and tests agree)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crm_bridge.organisms import Role


@dataclass(frozen=True, slots=True)
class NavLink:
    href: str
    label: str


ROLE_HOME: dict[Role, str] = {
    Role.EJECUTIVO: "/agente",
    Role.SUPERVISOR: "/supervision",
    Role.REFERENTE: "/solicitudes",
    Role.GERENTE: "/reportes",
    Role.ADMIN: "/admin",
}

_NAV: dict[Role, tuple[NavLink, ...]] = {
    Role.EJECUTIVO: (
        NavLink("/agente", "Mi puesto"),
        NavLink("/recepcion", "Recepción"),
        NavLink("/puesto", "Atención presencial"),
    ),
    Role.SUPERVISOR: (
        NavLink("/supervision", "Supervisión"),
        NavLink("/wallboard", "Tablero"),
    ),
    Role.REFERENTE: (NavLink("/solicitudes", "Solicitudes"),),
    Role.GERENTE: (NavLink("/reportes", "Reportes"), NavLink("/wallboard", "Tablero")),
    Role.ADMIN: (
        NavLink("/admin", "Administración"),
        NavLink("/wallboard", "Tablero"),
        NavLink("/api/docs", "API"),
    ),
}

ROLE_LABELS: dict[Role, str] = {
    Role.EJECUTIVO: "Ejecutivo/a de atención",
    Role.SUPERVISOR: "Supervisor/a",
    Role.REFERENTE: "Referente",
    Role.GERENTE: "Gerente",
    Role.ADMIN: "Administrador/a",
}


# An ejecutivo with no phone interface serves walk-ins: /agente's pause and
# queue controls would have nothing to act on.
WALK_IN_HOME = "/recepcion"


def home_of(role: Role, interfaces: Sequence[str]) -> str:
    """Where the user lands: the role's home, or reception for an ejecutivo
    without phone interfaces."""
    if role is Role.EJECUTIVO and not interfaces:
        return WALK_IN_HOME
    return ROLE_HOME[role]


def nav_for(role: Role) -> tuple[NavLink, ...]:
    return _NAV.get(role, ())
