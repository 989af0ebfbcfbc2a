"""`atiende presencial ...`: a walk-in point set up by a script, on a fresh SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest

from atiende.cli import main
from crm_bridge.db import make_engine
from dashboards.kiosk import DESK_TABLET, ROOM_DISPLAY, KioskLinks


def test_a_script_sets_up_a_point_its_desks_and_kiosk_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'centro.db'}"
    monkeypatch.setenv("ATIENDE_DATABASE_URL", db)
    assert main(["presencial", "punto", "add", "CAC", "Centro", "--espera-objetivo", "20"]) == 0
    assert main(["presencial", "tema", "add", "CAC", "cedula", "Cédula", "A"]) == 0
    assert main(["presencial", "tema", "add", "CAC", "pagos", "Pagos", "b"]) == 0
    assert main(["presencial", "tema", "add", "CAC", "otro", "Otro", "A"]) == 1  # letter taken
    assert main(["presencial", "tema", "add", "NOPE", "x", "X", "C"]) == 1
    assert main(["presencial", "puesto", "add", "CAC", "1", "Puesto 1"]) == 0
    assert main(["presencial", "puesto", "add", "CAC", "2", "Puesto 2", "--temas", "pagos"]) == 0
    assert main(["presencial", "puesto", "add", "CAC", "3", "Puesto 3", "--temas", "zzz"]) == 1
    assert main(["presencial", "prioridad", "set", "embarazo", "Embarazo", "1"]) == 0
    capsys.readouterr()
    assert main(["presencial", "enlace", "sala", "CAC", "TV sala"]) == 0
    room = capsys.readouterr().out.strip()
    assert main(["presencial", "enlace", "tableta", "CAC", "1", "Tableta 1"]) == 0
    tablet = capsys.readouterr().out.strip()
    assert main(["presencial", "list"]) == 0
    listed = capsys.readouterr().out
    assert "tema B\tpagos" in listed and "puesto\t2\tPuesto 2" in listed
    engine = make_engine(db)
    try:
        links = KioskLinks(engine)
        assert links.resolve(room.removeprefix("/sala/"), ROOM_DISPLAY) is not None
        assert links.resolve(tablet.removeprefix("/evaluacion/"), DESK_TABLET) is not None
    finally:
        engine.dispose()
