"""The IVR's custom prompts as sound files: which ones the flows need, whether they
are there, and building them with an offline text-to-speech.

Asterisk looks a prompt `atiende/bienvenida` up as
`<sounds dir>/<channel language>/atiende/bienvenida.<format>` (then without the
language). Of the formats present it plays the one cheapest to translate to the
channel's codec: `.ulaw` on a G.711 µ-law call, `.alaw` on a-law, `.gsm` on
GSM, and `.wav` (8 kHz 16-bit PCM, lossless) for anything else. `build` writes
all four, so Asterisk never transcodes a G.711 call.

Synthesis is espeak-ng (Debian main; its Latin-American Spanish voice `es-419`,
or an MBROLA Spanish voice when the non-free `mbrola` package and its voice are
installed) followed by sox (8 kHz mono, telephone band, normalised). A manifest
remembers which files the synthesiser wrote and from which text: a file not in
it (a studio recording) is never overwritten, and a synthesised one is rebuilt
when its text changes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ivr.flows import Flow, FlowRegistry

log = logging.getLogger(__name__)

# Formats build writes, in the order Asterisk prefers them for G.711 calls.
BUILD_FORMATS = ("ulaw", "alaw", "gsm", "wav")
# Extensions Asterisk 22 can play a prompt from (format modules loaded by default).
PLAYABLE = ("ulaw", "ul", "mu", "pcm", "alaw", "al", "gsm", "wav", "sln", "raw", "g722", "g729")
SAMPLE_RATE = 8000
MANIFEST = ".atiende-tts.json"
ESPEAK = "espeak-ng"
SOX = "sox"
DEFAULT_VOICE = "es-419"
# MBROLA voices espeak-ng drives, best first (Latin-American, then Spain).
MBROLA_VOICES = (("mb-mx2", "mx2"), ("mb-mx1", "mx1"), ("mb-es2", "es2"), ("mb-es1", "es1"))
MBROLA_DIRS = (Path("/usr/share/mbrola"), Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data/mbrola"))


class SoundsError(Exception):
    """A prompt cannot be built (no synthesiser, no text, a tool failed)."""


@dataclass(frozen=True, slots=True)
class Prompt:
    """One prompt a flow plays: its sound name and the language folder it lives in."""

    name: str
    language: str


@dataclass(frozen=True, slots=True)
class Problem:
    prompt: Prompt
    reason: str  # "missing", "empty" or "unplayable: ..."


def used_prompts(flows: Iterable[Flow]) -> list[Prompt]:
    """Every prompt the flows may play, once, sorted."""
    found = {Prompt(name, flow.language) for flow in flows for name in flow.all_prompts()}
    return sorted(found, key=lambda p: (p.language, p.name))


def folder(sounds_dir: Path, prompt: Prompt) -> Path:
    return sounds_dir / prompt.language / Path(prompt.name).parent


def files_of(sounds_dir: Path, prompt: Prompt) -> list[Path]:
    """The files Asterisk could play for `prompt` under `sounds_dir`."""
    base = Path(prompt.name).name
    where = folder(sounds_dir, prompt)
    return [where / f"{base}.{ext}" for ext in PLAYABLE if (where / f"{base}.{ext}").is_file()]


def wav_problem(path: Path) -> str | None:
    """Why Asterisk's `wav` format would refuse this file (it reads 8 kHz 16-bit mono only)."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, channels, width, frames = (
                w.getframerate(),
                w.getnchannels(),
                w.getsampwidth(),
                w.getnframes(),
            )
    except (wave.Error, EOFError, OSError) as err:
        return f"not a PCM WAV file ({err})"
    if (rate, channels, width) != (SAMPLE_RATE, 1, 2):
        found = f"{rate} Hz, {channels} channel(s), {8 * width}-bit"
        return f"{found}; Asterisk needs 8000 Hz mono 16-bit"
    if frames == 0:
        return "no audio"
    return None


def check(sounds_dir: Path, prompts: Sequence[Prompt]) -> list[Problem]:
    """Prompts with no playable file under `sounds_dir` (missing, empty or a bad WAV)."""
    problems: list[Problem] = []
    for prompt in prompts:
        files = files_of(sounds_dir, prompt)
        if not files:
            problems.append(Problem(prompt, "missing"))
            continue
        if all(f.stat().st_size == 0 for f in files):
            problems.append(Problem(prompt, "empty"))
            continue
        for f in files:
            if f.suffix == ".wav" and f.stat().st_size > 0:
                problem = wav_problem(f)
                if problem is not None:
                    problems.append(Problem(prompt, f"unplayable: {f.name}: {problem}"))
    return problems


def registry_prompts(registry: FlowRegistry) -> list[Prompt]:
    """Every prompt the loaded flows use."""
    return used_prompts(f for name in registry.names() if (f := registry.get(name)) is not None)


def warn_missing(sounds_dir: Path, registry: FlowRegistry) -> list[Problem]:
    """Log every prompt of the loaded flows that Asterisk could not play (serve's start)."""
    problems = check(sounds_dir, registry_prompts(registry))
    for problem in problems:
        log.warning(
            "IVR prompt %s %s in %s: run `atiende prompts build` (deploy/README.md)",
            problem.prompt.name,
            problem.reason,
            folder(sounds_dir, problem.prompt),
        )
    return problems


# ------------------------------------------------------------------ synthesis


def pick_voice(requested: str | None = None) -> str:
    """The espeak-ng voice to use: the one asked for, else an installed MBROLA
    Spanish voice, else espeak-ng's own Latin-American Spanish."""
    if requested:
        return requested
    if shutil.which("mbrola"):
        for voice, data in MBROLA_VOICES:
            if any((d / data).exists() for d in MBROLA_DIRS):
                return voice
    return DEFAULT_VOICE


def _fingerprint(voice: str, text: str) -> str:
    return hashlib.sha256(f"{voice}\n{text}".encode()).hexdigest()


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _run(command: list[str]) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    except FileNotFoundError as err:
        tool = command[0]
        raise SoundsError(f"{tool} is not installed (Debian: apt-get install {tool})") from err
    except subprocess.CalledProcessError as err:
        stderr = err.stderr.decode("utf-8", "replace").strip()
        raise SoundsError(f"{command[0]} failed: {stderr or err}") from err


def synthesise(text: str, voice: str, out_base: Path) -> list[Path]:
    """Speak `text` and write <out_base>.<format> for every BUILD_FORMATS entry."""
    out_base.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="atiende-tts-") as tmp:
        raw = Path(tmp) / "voice.wav"
        # -s words per minute: a little slower than espeak's 175 for the phone.
        _run([ESPEAK, "-v", voice, "-s", "150", "-w", str(raw), text])
        # Telephone band (300-3400 Hz), peak at -1 dBFS, 8 kHz mono.
        effects = ["highpass", "300", "lowpass", "3400", "norm", "-1"]
        written = []
        for fmt in BUILD_FORMATS:
            target = out_base.with_name(f"{out_base.name}.{fmt}")
            kind = {"ulaw": ["-t", "ul"], "alaw": ["-t", "al"], "gsm": ["-t", "gsm"]}.get(
                fmt, ["-t", "wav", "-e", "signed-integer", "-b", "16"]
            )
            tmp_target = target.with_name(f".{target.name}.tmp")
            rate = ["-r", str(SAMPLE_RATE), "-c", "1"]
            _run([SOX, str(raw), *rate, *kind, str(tmp_target), *effects])
            tmp_target.replace(target)  # never leave a half-written prompt behind
            written.append(target)
    return written


@dataclass(frozen=True, slots=True)
class BuildReport:
    built: list[Prompt]
    unchanged: list[Prompt]
    kept_recordings: list[Prompt]


def build(
    sounds_dir: Path,
    prompts: Sequence[Prompt],
    texts: Mapping[str, str],
    *,
    voice: str,
    force: bool = False,
) -> BuildReport:
    """Synthesise every prompt that is missing or whose synthesised text changed.

    A prompt with files the synthesiser did not write (a studio recording) is
    left alone unless `force`. Raises SoundsError before writing anything when
    a prompt has no text.
    """
    untexted = [p.name for p in prompts if not texts.get(p.name, "").strip()]
    if untexted:
        raise SoundsError("no text for prompt(s): " + ", ".join(untexted))
    built: list[Prompt] = []
    unchanged: list[Prompt] = []
    kept: list[Prompt] = []
    for prompt in prompts:
        manifest_path = folder(sounds_dir, prompt) / MANIFEST
        manifest = _read_manifest(manifest_path)
        base = Path(prompt.name).name
        fingerprint = _fingerprint(voice, texts[prompt.name])
        existing = files_of(sounds_dir, prompt)
        if existing and not force:
            if base not in manifest:
                kept.append(prompt)
                continue
            if manifest[base] == fingerprint and all(
                (folder(sounds_dir, prompt) / f"{base}.{fmt}").is_file() for fmt in BUILD_FORMATS
            ):
                unchanged.append(prompt)
                continue
        synthesise(texts[prompt.name], voice, folder(sounds_dir, prompt) / base)
        manifest[base] = fingerprint
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", "utf-8")
        built.append(prompt)
    return BuildReport(built, unchanged, kept)


def studio_brief(prompts: Sequence[Prompt], texts: Mapping[str, str]) -> str:
    """The recording script for a studio: every prompt, its file name and exact text (Markdown)."""
    lines = [
        "# Locuciones del IVR de Atiende (guion para el estudio)",
        "",
        "<!-- Generated by `atiende prompts brief`; do not edit by hand:",
        "     the texts live in ivr/prompts/es_UY.yaml. -->",
        "",
        "Grabar cada texto tal cual, con voz serena y tratando de «usted».",
        "Entregar un archivo por locución con el nombre indicado, en WAV PCM",
        "de 16 bits, mono, 8000 Hz, sin silencios largos al principio ni al",
        "final. Una grabación a otra frecuencia se convierte con",
        "`sox original.wav -r 8000 -c 1 -b 16 nombre.wav`.",
        "",
        "| archivo | texto |",
        "|---|---|",
    ]
    for prompt in prompts:
        path = f"{prompt.language}/{prompt.name}.wav"
        lines.append(f"| `{path}` | {texts.get(prompt.name, '(sin texto)')} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ callers' first names

NAMES_FOLDER = "atiende-nombres"


class SynthesisedNames:
    """Says a caller's first name ("si usted es María, marque 1").

    The name is synthesised once into `<folder>/<key>.<format>`, a folder
    Asterisk reads as `sounds/<language>/atiende-nombres` (compose shares a
    volume). Files are named by a hash of the name, never the name, and hold a
    first name only; deleting the folder loses nothing but time.
    """

    def __init__(self, folder: Path, voice: str | None = None) -> None:
        self.folder = folder
        self.voice = pick_voice(voice)

    async def sound_for(self, first_name: str) -> str | None:
        key = hashlib.sha256(f"{self.voice}\n{first_name.casefold()}".encode()).hexdigest()[:32]
        base = self.folder / key
        if not all(base.with_name(f"{key}.{fmt}").is_file() for fmt in BUILD_FORMATS):
            # Synthesis runs sox and espeak-ng: off the event loop.
            await asyncio.to_thread(synthesise, first_name, self.voice, base)
        return f"{NAMES_FOLDER}/{key}"
