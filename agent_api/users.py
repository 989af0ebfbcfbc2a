"""Panel users on the store: passwords, roles, active flag and queue member interfaces."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent_api.auth import (
    MIN_PASSWORD_LENGTH,
    Passwords,
    normalize_username,
    username_problem,
)
from agent_api.exceptions import Conflict, InvalidInput, NotFound
from crm_bridge.db import session_factory
from crm_bridge.models import AgentInterface, User
from crm_bridge.organisms import Role
from telephony.ami.actions import check_channel
from telephony.exceptions import InvalidActionValue


@dataclass(frozen=True, slots=True)
class PanelUser:
    id: int
    username: str
    display_name: str
    role: Role
    active: bool
    interfaces: tuple[str, ...]


def check_interface(interface: str) -> str:
    try:
        return check_channel("interface", interface)
    except InvalidActionValue as err:
        raise InvalidInput(
            f"invalid interface: {err.problem}",
            detalle="La interfaz debe tener la forma Tecnología/recurso (por ejemplo PJSIP/4001).",
        ) from err


class UserStore:
    def __init__(self, engine: Engine, passwords: Passwords) -> None:
        self._sessions = session_factory(engine)
        self._passwords = passwords

    def authenticate(self, username: str, password: str) -> PanelUser | None:
        """The user if the password is right and the account active (constant work otherwise)."""
        with self._sessions.begin() as session:
            name = normalize_username(username)
            row = session.scalars(select(User).where(User.username == name)).first()
            stored = row.password_hash if row is not None and row.active else None
            if not self._passwords.verify(stored, password) or row is None:
                return None
            if stored is not None and self._passwords.needs_rehash(stored):
                row.password_hash = self._passwords.hash(password)
            return self._view(session, row)

    def get(self, user_id: int) -> PanelUser | None:
        with self._sessions() as session:
            row = session.get(User, user_id)
            return None if row is None else self._view(session, row)

    def all(self) -> list[PanelUser]:
        with self._sessions() as session:
            rows = session.scalars(select(User).order_by(User.username)).all()
            return [self._view(session, row) for row in rows]

    def create(
        self,
        username: str,
        display_name: str,
        role: Role,
        password: str,
        interfaces: Sequence[str] = (),
    ) -> PanelUser:
        # Stored normalised: the unique constraint then refuses look-alikes.
        name = normalize_username(username)
        problem = username_problem(username)
        if problem is not None:
            raise InvalidInput(
                f"username {problem}",
                detalle=(
                    "El nombre de usuario no puede estar vacío, superar 64 caracteres "
                    "ni tener espacios o caracteres invisibles."
                ),
            )
        if not display_name.strip():
            raise InvalidInput("empty display name")
        _check_password(password)
        checked = [check_interface(i) for i in dict.fromkeys(interfaces)]
        try:
            with self._sessions.begin() as session:
                row = User(
                    username=name,
                    display_name=display_name.strip()[:200],
                    role=role.value,
                    password_hash=self._passwords.hash(password),
                    active=True,
                )
                session.add(row)
                session.flush()
                for interface in checked:
                    session.add(AgentInterface(user_id=row.id, interface=interface))
                session.flush()
                return self._view(session, row)
        except IntegrityError as err:
            raise Conflict(
                "username or interface taken",
                detalle="El nombre de usuario o una interfaz ya están en uso.",
            ) from err

    def update(
        self,
        user_id: int,
        *,
        role: Role | None = None,
        active: bool | None = None,
        display_name: str | None = None,
        password: str | None = None,
    ) -> PanelUser:
        if password is not None:
            _check_password(password)
        with self._sessions.begin() as session:
            row = session.get(User, user_id)
            if row is None:
                raise NotFound(f"no user {user_id}")
            if role is not None:
                row.role = role.value
            if active is not None:
                row.active = active
            if display_name is not None and display_name.strip():
                row.display_name = display_name.strip()[:200]
            if password is not None:
                row.password_hash = self._passwords.hash(password)
            session.flush()
            return self._view(session, row)

    def set_interfaces(self, user_id: int, interfaces: Sequence[str]) -> PanelUser:
        checked = [check_interface(i) for i in dict.fromkeys(interfaces)]
        try:
            with self._sessions.begin() as session:
                row = session.get(User, user_id)
                if row is None:
                    raise NotFound(f"no user {user_id}")
                session.execute(delete(AgentInterface).where(AgentInterface.user_id == user_id))
                for interface in checked:
                    session.add(AgentInterface(user_id=user_id, interface=interface))
                session.flush()
                return self._view(session, row)
        except IntegrityError as err:
            raise Conflict(
                "interface taken", detalle="Esa interfaz ya pertenece a otro usuario."
            ) from err

    def display_names(self, usernames: Collection[str]) -> dict[str, str]:
        """Username → display name for those that are users (one query)."""
        if not usernames:
            return {}
        query = select(User.username, User.display_name).where(User.username.in_(usernames))
        with self._sessions() as session:
            return {str(u): str(d) for u, d in session.execute(query).all()}

    def interface_map(self) -> dict[str, int]:
        """Every mapped interface of an active user → that user's id (for the pop hub)."""
        query = (
            select(AgentInterface.interface, AgentInterface.user_id)
            .join(User, User.id == AgentInterface.user_id)
            .where(User.active.is_(True))
        )
        with self._sessions() as session:
            return {str(i): int(u) for i, u in session.execute(query).all()}

    @staticmethod
    def _view(session: Session, row: User) -> PanelUser:
        interfaces = session.scalars(
            select(AgentInterface.interface)
            .where(AgentInterface.user_id == row.id)
            .order_by(AgentInterface.interface)
        ).all()
        return PanelUser(
            id=row.id,
            username=row.username,
            display_name=row.display_name,
            role=Role(row.role),
            active=row.active,
            interfaces=tuple(interfaces),
        )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH or len(password) > 1024:
        raise InvalidInput(
            f"the password must have {MIN_PASSWORD_LENGTH} to 1024 characters",
            detalle=f"La contraseña debe tener al menos {MIN_PASSWORD_LENGTH} caracteres.",
        )
