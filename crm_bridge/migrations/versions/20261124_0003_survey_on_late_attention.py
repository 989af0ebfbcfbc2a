"""A survey stored before its call's attention row reaches that row when it is inserted.

The IVR asks for the rating while the call is still up and the bridge writes
attentions asynchronously, so `call_surveys` may get the score first. A
trigger copies it onto `attentions.survey_score` when the row is inserted;
StoreIvrServices.record_survey updates rows that already exist.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PG_FUNCTION = """
CREATE FUNCTION atiende_attention_survey() RETURNS trigger AS $$
BEGIN
    IF NEW.survey_score IS NULL THEN
        SELECT s.score INTO NEW.survey_score FROM call_surveys s
        WHERE s.system = NEW.system AND s.linkedid = NEW.linkedid;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""
_PG_TRIGGER = """
CREATE TRIGGER attentions_survey BEFORE INSERT ON attentions
FOR EACH ROW EXECUTE FUNCTION atiende_attention_survey()
"""
# SQLite triggers cannot change NEW: update the row just inserted.
_SQLITE_TRIGGER = """
CREATE TRIGGER attentions_survey AFTER INSERT ON attentions
FOR EACH ROW WHEN NEW.survey_score IS NULL
BEGIN
    UPDATE attentions SET survey_score = (
        SELECT s.score FROM call_surveys s
        WHERE s.system = NEW.system AND s.linkedid = NEW.linkedid
    ) WHERE id = NEW.id;
END
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        op.execute(_SQLITE_TRIGGER)


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER IF EXISTS attentions_survey"
        + (" ON attentions" if op.get_bind().dialect.name == "postgresql" else "")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS atiende_attention_survey()")
