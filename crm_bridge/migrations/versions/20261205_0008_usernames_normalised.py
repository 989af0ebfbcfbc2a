"""Usernames stored in their normalised form (NFKC, case-folded, trimmed).

The panel compares usernames in that form (agent_api.auth.normalize_username),
so the existing unique constraint on `users.username` now also refuses
"ADMIN" or a fullwidth "ａｄｍｉｎ" next to "admin". Existing names are
rewritten; if two of them become the same name the migration stops and names
the ids, for an admin to rename one by hand (nothing is merged silently).

Revision ID: 0008_usernames_normalised
Revises: 0007_dashboards_report_stats
Create Date: 2026-12-05
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError

revision: str = "0008_usernames_normalised"
down_revision: str | None = "0007_dashboards_report_stats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _normalise(name: str) -> str:
    # Kept in step with agent_api.auth.normalize_username (migrations do not import the app).
    return unicodedata.normalize("NFKC", name).casefold().strip()


def upgrade() -> None:
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("username", sa.String))
    conn = op.get_bind()
    rows = conn.execute(sa.select(users.c.id, users.c.username)).all()
    seen: dict[str, int] = {}
    for user_id, name in rows:
        normal = _normalise(name)
        if normal in seen:
            raise CommandError(
                f"users {seen[normal]} and {user_id} have the same username once normalised "
                f"({normal!r}); rename one, then run the migration again"
            )
        seen[normal] = user_id
    for user_id, name in rows:
        if _normalise(name) != name:
            conn.execute(
                users.update().where(users.c.id == user_id).values(username=_normalise(name))
            )


def downgrade() -> None:
    """Nothing to undo: the normalised names are valid names."""
