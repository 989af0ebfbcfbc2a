"""`atiende catalogo importar`: the knowledge base loaded from files, idempotently."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from atiende.cli import main
from crm_bridge.db import make_engine
from crm_bridge.knowledge import KnowledgeBase
from crm_bridge.models import AuditEntry, CatalogTopic

DATA = Path(__file__).parent / "crm_bridge" / "data"


def test_importing_the_same_files_twice_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'centro.db'}"
    monkeypatch.setenv("ATIENDE_DATABASE_URL", db)
    gub, own = str(DATA / "tramites_gub.csv"), str(DATA / "propio.yaml")
    assert main(["catalogo", "importar", "--formato", "tramites-gub", gub]) == 0
    assert "3 topics created, 0 updated, 0 unchanged" in capsys.readouterr().out
    assert main(["catalogo", "importar", "--formato", "propio", own]) == 0
    assert "1 topics created" in capsys.readouterr().out
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            before = [tuple(r) for r in conn.execute(select(CatalogTopic.__table__))]
        assert main(["catalogo", "importar", "--formato", "tramites-gub", gub]) == 0
        assert "0 topics created, 0 updated, 3 unchanged" in capsys.readouterr().out
        assert main(["catalogo", "importar", "--formato", "propio", own]) == 0
        assert "0 topics created, 0 updated, 1 unchanged" in capsys.readouterr().out
        with engine.connect() as conn:
            after = [tuple(r) for r in conn.execute(select(CatalogTopic.__table__))]
            imports = conn.execute(
                select(AuditEntry.details).where(AuditEntry.action == "admin_change")
            ).all()
        assert after == before
        assert len(imports) == 4
        assert KnowledgeBase(engine).search("cedula")[0].name == "Cédula de identidad"
    finally:
        engine.dispose()


def test_a_bad_file_is_refused_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATIENDE_DATABASE_URL", f"sqlite:///{tmp_path / 'centro.db'}")
    wrong = tmp_path / "otro.csv"
    wrong.write_text("codigo,nombre\nC1,Uno\n", encoding="utf-8")
    assert main(["catalogo", "importar", "--formato", "tramites-gub", str(wrong)]) == 1
    assert "nombre_tramite" in capsys.readouterr().err
    assert main(["catalogo", "importar", "--formato", "propio", str(tmp_path / "no.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["catalogo", "importar", "--formato", "otro", str(wrong)])


def test_difundir_sends_email_by_plain_smtp_when_configured() -> None:
    from atiende.settings import MailSettings, Settings
    from atiende.wiring import knowledge_responders
    from crm_bridge.responders import SmtpResponder

    assert knowledge_responders(Settings()) == []
    configured = Settings(
        mail=MailSettings(smtp_host="127.0.0.1", sender="atencion@example.gub.uy")
    )
    (smtp,) = knowledge_responders(configured)
    # Not the tickets' threaded responder: a trámite's information is no ticket reply.
    assert type(smtp) is SmtpResponder and smtp.channel == "email"
