"""`atiende prompts`: the shipped flows' prompts are synthesised into files Asterisk
plays (read back here from their headers), checked, and studio recordings are kept."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

from atiende.cli import main
from ivr import sounds
from ivr.flows import load_flows
from ivr.prompts import load_catalogue

REPO = Path(__file__).resolve().parents[2]
BRIEF = REPO / "deploy" / "prompts-studio-brief.md"

needs_tts = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox (Debian packages) are needed to synthesise prompts",
)


def shipped_prompts() -> list[sounds.Prompt]:
    registry = load_flows()
    return sounds.used_prompts(f for n in registry.names() if (f := registry.get(n)) is not None)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox (Debian packages) are needed to synthesise prompts")
    out = tmp_path_factory.mktemp("sounds")
    assert main(["prompts", "check", "--sounds", str(out)]) == 1
    assert main(["prompts", "build", "--sounds", str(out)]) == 0
    return out


def test_build_then_check_shows_none_missing(
    built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["prompts", "check", "--sounds", str(built)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{len(shipped_prompts())} of {len(shipped_prompts())} prompts ready" in err


def test_check_lists_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompts", "check", "--sounds", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "atiende/menu-principal: missing" in out
    assert len(out.splitlines()) == len(shipped_prompts())


def test_generated_files_read_back_as_asterisk_formats(built: Path) -> None:
    where = built / "es" / "atiende"
    with wave.open(str(where / "menu-principal.wav"), "rb") as w:
        assert w.getframerate() == 8000
        assert w.getnchannels() == 1
        assert w.getsampwidth() == 2  # 16-bit signed PCM: Asterisk's `wav` format
        frames = w.getnframes()
        assert w.getcomptype() == "NONE"
    duration = frames / 8000
    assert 3.0 < duration < 60.0  # a four-option menu read aloud
    # µ-law and a-law: one byte per 8 kHz sample; GSM 6.10: 33 bytes per 160 samples.
    assert (where / "menu-principal.ulaw").stat().st_size == frames
    assert (where / "menu-principal.alaw").stat().st_size == frames
    gsm = (where / "menu-principal.gsm").stat().st_size
    assert gsm % 33 == 0 and abs(gsm // 33 * 160 - frames) < 160
    # Every prompt of every shipped flow has its four files, none empty.
    for prompt in shipped_prompts():
        for fmt in sounds.BUILD_FORMATS:
            path = built / "es" / f"{prompt.name}.{fmt}"
            assert path.stat().st_size > 0, path


@needs_tts
def test_studio_recordings_are_kept_and_changed_texts_rebuilt(tmp_path: Path) -> None:
    one, two = sounds.Prompt("atiende/uno", "es"), sounds.Prompt("atiende/dos", "es")
    texts = {"atiende/uno": "Uno.", "atiende/dos": "Dos."}
    first = sounds.build(tmp_path, [one, two], texts, voice="es-419")
    assert first.built == [one, two]
    again = sounds.build(tmp_path, [one, two], texts, voice="es-419")
    assert again.built == [] and again.unchanged == [one, two]
    # A studio recording replaces "uno": the synthesiser's files go, the studio's stays.
    where = tmp_path / "es" / "atiende"
    for fmt in sounds.BUILD_FORMATS:
        (where / f"uno.{fmt}").unlink()
    studio = where / "uno.wav"
    with wave.open(str(studio), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * 800)
    manifest = where / sounds.MANIFEST
    manifest.write_text(manifest.read_text().replace('"uno"', '"otro"'))
    changed = {**texts, "atiende/uno": "Uno, otra vez.", "atiende/dos": "Dos, otra vez."}
    report = sounds.build(tmp_path, [one, two], changed, voice="es-419")
    assert report.kept_recordings == [one] and report.built == [two]
    assert studio.read_bytes()[-2:] == b"\x01\x00"


def test_check_flags_empty_and_unplayable_files(tmp_path: Path) -> None:
    empty, wide = sounds.Prompt("atiende/vacio", "es"), sounds.Prompt("atiende/cd", "es")
    where = tmp_path / "es" / "atiende"
    where.mkdir(parents=True)
    (where / "vacio.ulaw").write_bytes(b"")
    with wave.open(str(where / "cd.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"\x00\x00" * 200)
    problems = {p.prompt.name: p.reason for p in sounds.check(tmp_path, [empty, wide])}
    assert problems["atiende/vacio"] == "empty"
    assert problems["atiende/cd"].startswith("unplayable: cd.wav: 44100 Hz, 2 channel(s)")


def test_a_prompt_without_text_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(sounds.SoundsError, match="atiende/nuevo"):
        sounds.build(tmp_path, [sounds.Prompt("atiende/nuevo", "es")], {}, voice="es-419")
    assert not any(tmp_path.iterdir())


def test_every_prompt_has_a_text_and_the_studio_brief_is_current() -> None:
    texts = load_catalogue()
    prompts = shipped_prompts()
    assert {p.name for p in prompts} <= set(texts)
    assert BRIEF.read_text(encoding="utf-8") == sounds.studio_brief(prompts, texts), (
        "regenerate it: atiende prompts brief --out deploy/prompts-studio-brief.md"
    )


@needs_tts
async def test_a_callers_first_name_is_synthesised_once_under_a_hashed_name(
    tmp_path: Path,
) -> None:
    names = sounds.SynthesisedNames(tmp_path)
    sound = await names.sound_for("María")
    assert sound is not None and sound.startswith("atiende-nombres/")
    key = sound.split("/", 1)[1]
    assert "mar" not in key.lower()
    with wave.open(str(tmp_path / f"{key}.wav"), "rb") as w:
        assert (w.getframerate(), w.getnchannels()) == (8000, 1) and w.getnframes() > 0
    stamp = (tmp_path / f"{key}.ulaw").stat().st_mtime_ns
    assert await names.sound_for("maría") == sound  # same name, same files, not redone
    assert (tmp_path / f"{key}.ulaw").stat().st_mtime_ns == stamp
