"""`atiende admin ...`: a centre set up by a script, on a fresh SQLite database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_api.audit import AuditLog
from atiende.cli import main
from crm_bridge.db import make_engine
from crm_bridge.organisms import Directory
from crm_bridge.ticket_rules import RequestType

PASSWORD = "contraseña-segura-1"


def test_a_script_sets_up_a_centre(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'centro.db'}"
    monkeypatch.setenv("ATIENDE_DATABASE_URL", db)
    monkeypatch.setenv("ATIENDE_USER_PASSWORD", PASSWORD)
    run = main
    assert run(["user", "add", "rita", "--role", "ejecutivo", "--name", "Rita Suárez"]) == 0
    assert (
        run(["admin", "organism", "add", "DNIC", "Dirección Nacional de Identificación Civil"]) == 0
    )
    assert run(["admin", "organism", "add", "DNIC", "Otra vez"]) == 1
    assert "Ya existe" in capsys.readouterr().err
    assert run(["admin", "unit", "add", "DNIC", "CI", "Cédulas"]) == 0
    assert run(["admin", "unit", "add", "DNIC", "CI-MVD", "Montevideo", "--parent", "CI"]) == 0
    # A referent must have the role first: the refusal says so.
    assert run(["admin", "referent", "add", "DNIC", "CI", "rita"]) == 1
    assert "referente" in capsys.readouterr().err
    assert run(["admin", "user", "role", "rita", "referente"]) == 0
    assert run(["admin", "referent", "add", "DNIC", "CI", "rita"]) == 0
    assert run(["admin", "sla", "set", "DNIC", "reclamo", "24", "--unit", "CI"]) == 0
    assert run(["admin", "sla", "set", "DNIC", "consulta", "8"]) == 0
    assert run(["admin", "sla", "set", "DNIC", "consulta", "-1"]) == 1
    catalog = tmp_path / "catalogo.json"
    catalog.write_text(
        json.dumps([{"code": "CI-REN", "name": "Renovación de cédula", "organism": "DNIC",
                     "unit": "CI"}]),
        encoding="utf-8",
    )  # fmt: skip
    assert run(["admin", "topic", "import", str(catalog)]) == 0
    assert run(["admin", "topic", "set", "PAS", "Pasaporte", "--organism", "DNIC"]) == 0
    assert run(["admin", "topic", "set", "PAS", "Pasaporte", "--organism", "NADA"]) == 1
    assert run(["admin", "user", "interfaces", "rita"]) == 0
    monkeypatch.setenv("ATIENDE_USER_PASSWORD", "otra-clave-muy-larga")
    assert run(["admin", "user", "password", "rita"]) == 0
    assert run(["admin", "user", "deactivate", "rita"]) == 0
    capsys.readouterr()
    assert run(["admin", "sla", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert "DNIC\tCI\treclamo\t24" in listed and "DNIC\t-\tconsulta\t8" in listed
    assert run(["admin", "topic", "list"]) == 0
    assert "CI-REN" in capsys.readouterr().out

    engine = make_engine(db)
    try:
        directory = Directory(engine)
        organism = next(o for o in directory.organisms() if o.code == "DNIC")
        units = {u.code: u for u in directory.units(organism.id)}
        assert units["CI-MVD"].parent_id == units["CI"].id
        assert [u.username for u in directory.referents(units["CI"].id)] == ["rita"]
        # The child unit inherits its parent's hours.
        hours = directory.service_level(
            organism.id, RequestType.RECLAMO, unit_id=units["CI-MVD"].id
        )
        assert hours == 24
        changes = AuditLog(engine).query(action="admin_change")
        assert len(changes) >= 10 and all(c.actor_id is None for c in changes)
        assert "otra-clave" not in repr([c.details for c in changes])
    finally:
        engine.dispose()


def test_unknown_names_are_refused_with_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATIENDE_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    assert main(["admin", "unit", "add", "NADA", "X", "Y"]) == 1
    assert "no existe" in capsys.readouterr().err
    assert main(["admin", "user", "role", "nadie", "admin"]) == 1
    with pytest.raises(SystemExit) as bad:
        main(["admin", "sla", "set", "DNIC", "pedido", "3"])
    assert bad.value.code == 2
