"""Attentions pick up what other services stored before the bridge wrote them.

- The survey: the IVR asks for the rating while the call is still up and the
  bridge writes attentions asynchronously, so `call_surveys` may get the
  score first. StoreIvrServices.record_survey updates rows that exist; these
  triggers copy the score onto rows written afterwards.
- The person: the IVR sets ATIENDE_PERSON_ID (an id StoreIvrServices
  returned) and the bridge stores it among the attention's `variables`; the
  triggers link `person_id` when it names an existing person. Anything else
  (not digits, no such person) leaves it null: a channel variable never
  fails a batch.

Neither column is rewritten by the bridge's upserts (attentions._UPDATABLE).

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
CREATE FUNCTION atiende_attention_links() RETURNS trigger AS $$
DECLARE
    wanted text;
BEGIN
    IF NEW.survey_score IS NULL THEN
        SELECT s.score INTO NEW.survey_score FROM call_surveys s
        WHERE s.system = NEW.system AND s.linkedid = NEW.linkedid;
    END IF;
    IF NEW.person_id IS NULL THEN
        wanted := NEW.variables ->> 'ATIENDE_PERSON_ID';
        IF wanted ~ '^[0-9]{1,18}$' THEN
            SELECT p.id INTO NEW.person_id FROM persons p WHERE p.id = wanted::bigint;
        END IF;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""
_PG_TRIGGER = """
CREATE TRIGGER attentions_links BEFORE INSERT OR UPDATE ON attentions
FOR EACH ROW EXECUTE FUNCTION atiende_attention_links()
"""

# SQLite triggers cannot change NEW: they update the row just written.
_SQLITE_PERSON = """
(SELECT p.id FROM persons p
 WHERE json_extract(NEW.variables, '$.ATIENDE_PERSON_ID') NOT GLOB '*[^0-9]*'
   AND length(json_extract(NEW.variables, '$.ATIENDE_PERSON_ID')) BETWEEN 1 AND 18
   AND p.id = CAST(json_extract(NEW.variables, '$.ATIENDE_PERSON_ID') AS INTEGER))
"""
_SQLITE_INSERT = f"""
CREATE TRIGGER attentions_links_insert AFTER INSERT ON attentions
FOR EACH ROW WHEN NEW.survey_score IS NULL OR NEW.person_id IS NULL
BEGIN
    UPDATE attentions SET
        survey_score = coalesce(survey_score, (
            SELECT s.score FROM call_surveys s
            WHERE s.system = NEW.system AND s.linkedid = NEW.linkedid
        )),
        person_id = coalesce(person_id, {_SQLITE_PERSON})
    WHERE id = NEW.id;
END
"""
_SQLITE_UPDATE = f"""
CREATE TRIGGER attentions_links_update AFTER UPDATE OF variables ON attentions
FOR EACH ROW WHEN NEW.person_id IS NULL
BEGIN
    UPDATE attentions SET person_id = {_SQLITE_PERSON} WHERE id = NEW.id;
END
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        op.execute(_SQLITE_INSERT)
        op.execute(_SQLITE_UPDATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS attentions_links ON attentions")
        op.execute("DROP FUNCTION IF EXISTS atiende_attention_links()")
    else:
        op.execute("DROP TRIGGER IF EXISTS attentions_links_insert")
        op.execute("DROP TRIGGER IF EXISTS attentions_links_update")
