"""Alembic migrations of the attention store (run through crm_bridge.db.upgrade)."""
