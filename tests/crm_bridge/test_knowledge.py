"""The knowledge base: accent-insensitive search ranked by relevance on both
databases, and idempotent imports from the State's catalogue and the centre's file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, inspect, select, text

from crm_bridge.db import make_engine, upgrade
from crm_bridge.exceptions import InvalidValueError
from crm_bridge.knowledge import KnowledgeBase, KnowledgeEntry, fold, query_tokens, score, tsquery
from crm_bridge.knowledge_import import parse_own, parse_tramites_gub, plain
from crm_bridge.models import CatalogTopic, Organism

DATA = Path(__file__).parent / "data"


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    new_postgres_database: Callable[[], str],
) -> Iterator[Engine]:
    url = (
        new_postgres_database()
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path / 'kb.db'}"
    )
    upgrade(url)
    built = make_engine(url)
    yield built
    built.dispose()


def _snapshot(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(*[c for c in CatalogTopic.__table__.columns]).order_by(CatalogTopic.code)
        )
        return [tuple(r) for r in rows]


def _load_fixture(engine: Engine) -> KnowledgeBase:
    with engine.begin() as conn:
        conn.execute(insert(Organism).values(code="MI", name="Ministerio del Interior"))
    kb = KnowledgeBase(engine)
    kb.upsert(parse_tramites_gub((DATA / "tramites_gub.csv").read_bytes(), "tramites_gub.csv"))
    kb.upsert(parse_own((DATA / "propio.yaml").read_bytes(), "propio.yaml"))
    return kb


# ------------------------------------------------------------------ pure parts


def test_folding_and_query_words() -> None:
    assert fold("Cédula de IDENTIDAD ñandú") == "cedula de identidad nandu"
    assert query_tokens("  la Cédula   de identidad de ") == ["cedula", "identidad"]
    assert query_tokens("x" * 500) == ["x" * 100]  # the query is cut at 100 characters
    assert tsquery(["cedula", "ident"]) == "cedula & ident:*"


def test_python_score_weighs_the_name_over_the_body() -> None:
    name_hit = score(["cedula"], "Cédula de identidad", "", "Agenda previa")
    body_hit = score(["cedula"], "Solicitud de Pasaporte", "", "Cédula de identidad vigente")
    keyword_hit = score(["cedula"], "Agenda", "cédula documento", "")
    assert name_hit > keyword_hit > body_hit > 0
    assert score(["cedula", "pasaporte"], "Cédula de identidad", "", "") == 0  # every word
    assert score(["ced"], "Cédula de identidad", "", "") > 0  # the last word is a prefix
    assert score(["ced", "identidad"], "Cédula de identidad", "", "") == 0  # only the last


def test_html_of_the_export_becomes_lines() -> None:
    assert plain("<ul><li>Uno &amp; dos</li><li>Tres</li></ul>") == "Uno & dos\nTres"


# ------------------------------------------------------------------ search


def test_cedula_finds_cedula_de_identidad_first(engine: Engine) -> None:
    kb = _load_fixture(engine)
    names = [t.name for t in kb.search("cedula")]
    # The name says it (weight A), the DNIC appointment service has it among
    # its keywords (B), the passport asks for one among its requisitos (C).
    assert names == ["Cédula de identidad", "Agenda para la DNIC", "Solicitud de Pasaporte"]
    assert [t.name for t in kb.search("CÉDULA")] == names


def test_accents_in_the_catalog_or_in_the_query_do_not_matter(engine: Engine) -> None:
    kb = _load_fixture(engine)
    assert [t.name for t in kb.search("expedicion partidas")] == ["Expedición de partidas"]
    assert [t.name for t in kb.search("expedición de partidas")] == ["Expedición de partidas"]
    assert next(t.name for t in kb.search("pasapo")) == "Solicitud de Pasaporte"  # typing
    assert kb.search("turno")[0].name == "Agenda para la DNIC"  # a keyword
    assert kb.search("de la") == []  # stopwords only
    assert kb.search("zzzz") == []


def test_results_carry_what_the_agent_reads(engine: Engine) -> None:
    kb = _load_fixture(engine)
    passport = kb.search("pasaporte")[0]
    assert passport.organism == "Ministerio del Interior"  # matched by name: ours
    assert passport.requirements is not None
    assert "Cédula de identidad vigente." in passport.requirements
    assert passport.online_url == "https://www.gub.uy/tramites/solicitud-pasaporte"
    assert passport.where_how is not None and "Paysandú 1292" in passport.where_how
    assert passport.description is not None and "Menores de edad" in passport.description
    assert passport.source == "tramites-gub" and passport.source_updated == "2025-03-10"
    partidas = kb.search("partidas")[0]
    assert partidas.organism == "Ministerio de Educación y Cultura"  # not ours: the label
    own = kb.search("agenda dnic")[0]
    assert own.code == "AGENDA-DNIC"
    assert own.requirements == "Número de cédula (si la tiene)\nCorreo electrónico o celular"
    assert own.cost == "Sin costo."


def test_hidden_topics_are_not_found(engine: Engine) -> None:
    kb = _load_fixture(engine)
    with engine.begin() as conn:
        conn.execute(
            CatalogTopic.__table__.update()
            .where(CatalogTopic.code == "gub-628")
            .values(active=False)
        )
    assert "Cédula de identidad" not in [t.name for t in kb.search("cedula")]


def test_postgres_uses_the_generated_vector(new_postgres_database: Callable[[], str]) -> None:
    url = new_postgres_database()
    upgrade(url)
    engine = make_engine(url)
    _load_fixture(engine)
    with engine.connect() as conn:
        folded = conn.execute(text("SELECT atiende_fold('Cédula ÑANDÚ')")).scalar()
        vector = conn.execute(
            text("SELECT search_vector::text FROM catalog_topics WHERE code = 'gub-628'")
        ).scalar()
    engine.dispose()
    assert folded == "cedula nandu"
    assert "'cedul':1A" in str(vector)


# ------------------------------------------------------------------ imports


def test_importing_the_same_catalogue_twice_changes_nothing(engine: Engine) -> None:
    kb = _load_fixture(engine)
    before = _snapshot(engine)
    gub = (DATA / "tramites_gub.csv").read_bytes()
    own = (DATA / "propio.yaml").read_bytes()
    again = kb.upsert(parse_tramites_gub(gub, "tramites_gub.csv"))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert kb.upsert(parse_own(own, "propio.yaml")).unchanged == 1
    assert _snapshot(engine) == before


def test_an_updated_catalogue_updates_only_what_changed(engine: Engine) -> None:
    kb = _load_fixture(engine)
    gub = (DATA / "tramites_gub.csv").read_text(encoding="utf-8")
    changed = gub.replace("Agenda por el 0800 2211.", "Agenda por el 0800 2211 (gratuito).")
    result = kb.upsert(parse_tramites_gub(changed.encode(), "tramites_gub.csv"))
    assert (result.created, result.updated, result.unchanged) == (0, 1, 2)
    steps = kb.search("cedula identidad")[0].steps
    assert steps is not None and "(gratuito)" in steps


def test_the_json_export_reads_like_the_csv(engine: Engine) -> None:
    kb = _load_fixture(engine)
    import csv
    import io
    import json

    rows = list(
        csv.DictReader(
            io.StringIO((DATA / "tramites_gub.csv").read_text(encoding="utf-8")), delimiter=";"
        )
    )
    ckan = json.dumps({"result": {"records": rows}}).encode()
    assert kb.upsert(parse_tramites_gub(ckan, "tramites.json")).unchanged == 3


def test_the_own_csv_format_and_its_errors() -> None:
    good = (
        "codigo,nombre,tipo,requisitos,enlace\n"
        "C1,Constancia,tramite,Cédula,https://www.gub.uy/tramites/c1\n"
    ).encode()
    [entry] = parse_own(good, "centro.csv")
    assert entry == KnowledgeEntry(
        code="C1",
        name="Constancia",
        requirements="Cédula",
        online_url="https://www.gub.uy/tramites/c1",
        source="propio",
    )
    assert entry.steps is None  # no column: left as it is
    with pytest.raises(InvalidValueError):
        parse_own(b"codigo,nombre\nC1,Uno\nC1,Dos\n", "centro.csv")  # a code twice
    with pytest.raises(InvalidValueError):
        parse_own(b"codigo,nombre,tipo\nC1,Uno,otro\n", "centro.csv")
    with pytest.raises(InvalidValueError):
        parse_own(b"tramites: [", "centro.yaml")
    with pytest.raises(InvalidValueError):
        parse_tramites_gub(b"codigo,nombre\nC1,Uno\n", "x.csv")  # not the export
    with pytest.raises(InvalidValueError):
        parse_own("codigo,nombre\nC1,Uno\n".encode("latin-1") + b"\xe9", "x.csv")


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_the_migration_goes_down_and_up_again(
    dialect: str, tmp_path: Path, new_postgres_database: Callable[[], str]
) -> None:
    from alembic import command

    from crm_bridge.db import alembic_config

    url = new_postgres_database() if dialect == "postgresql" else f"sqlite:///{tmp_path / 'm.db'}"
    # Only this revision goes down and up: later ones have downgrades of their own.
    upgrade(url, "0016_knowledge_base")
    engine = make_engine(url)
    try:
        _load_fixture(engine)
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0015_followups_and_notices")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("catalog_topics")}
            tables = set(inspect(conn).get_table_names())
        assert "requirements" not in columns and "search_vector" not in columns
        assert "topic_disseminations" not in tables
        upgrade(url, "0016_knowledge_base")
        kb = KnowledgeBase(engine)
        assert kb.search("paysandu") == []  # the content went with its columns
        assert kb.search("cedula")[0].name == "Cédula de identidad"  # the name stayed
        kb.upsert(parse_tramites_gub((DATA / "tramites_gub.csv").read_bytes(), "x.csv"))
        assert kb.search("paysandu")[0].name == "Solicitud de Pasaporte"
    finally:
        engine.dispose()
