"""deploy/Dockerfile ships every package of the distribution, and every
ATIENDE_* variable deploy/ sets is a real setting (a typo would be ignored
silently: the settings allow unknown variables)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from atiende.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def test_dockerfile_copies_every_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {
        name.rstrip("*") for name in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, re.M))
    assert copied == packages
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert {f"!{package}/" for package in packages} <= set(ignore)
    assert {"!pyproject.toml", "!README.md"} <= set(ignore)


def setting_exists(variable: str) -> bool:
    path = variable.removeprefix("ATIENDE_").lower().split("__")
    model: type[BaseModel] = Settings
    for index, part in enumerate(path):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation: Any = field.annotation
        if index < len(path) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def deploy_variables() -> set[str]:
    names: set[str] = set()
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    for name, service in compose["services"].items():
        if name.startswith("atiende"):  # Grafana's ATIENDE_PROMETHEUS_URL is its own
            names |= {k for k in service.get("environment", {}) if k.startswith("ATIENDE_")}
    for example in (DEPLOY / "env").glob("*.env.example"):
        for line in example.read_text(encoding="utf-8").splitlines():
            if line.startswith("ATIENDE_"):
                names.add(line.split("=", 1)[0])
    unit = (DEPLOY / "systemd" / "atiende-serve.service").read_text(encoding="utf-8")
    names |= set(re.findall(r"Environment=(ATIENDE_\w+)=", unit))
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    # Channel variables of the dialplan (ATIENDE_QUEUE...) are not settings.
    dialplan = (DEPLOY / "asterisk" / "extensions.conf").read_text(encoding="utf-8")
    channel = set(re.findall(r"\b(ATIENDE_[A-Z_]+[A-Z])\b", dialplan))
    # ATIENDE_USER_PASSWORD is read by `atiende user add` itself (cli.py), not a setting.
    names |= set(re.findall(r"\b(ATIENDE_[A-Z_]+[A-Z])\b", readme)) - channel
    names -= {"ATIENDE_USER_PASSWORD"}
    return names


def test_every_variable_is_a_setting() -> None:
    names = deploy_variables()
    assert "ATIENDE_AMI__SECRET" in names
    unknown = sorted(name for name in names if not setting_exists(name))
    assert unknown == []
    assert not setting_exists("ATIENDE_AMI__SECRETT")
