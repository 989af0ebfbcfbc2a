"""deploy/docker-compose.yml: parses, and its structure keeps the promises of
deploy/README.md (pinned images, health checks, AMI/FastAGI unpublished)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
PRIVATE_PORTS = {"5038", "4573", "5432", "6379", "9464"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def test_the_services_of_the_guide(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {
        "asterisk", "postgres", "redis", "atiende-serve", "atiende-worker", "prometheus",
        "grafana",
    }  # fmt: skip
    # Every Atiende service runs a command the CLI has.
    from atiende.cli import main

    for name in ("atiende-serve", "atiende-worker"):
        with pytest.raises(SystemExit) as raised:
            main([services(compose)[name]["command"][0], "--help"])
        assert raised.value.code == 0, name


def test_images_are_pinned_by_version(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        image = service["image"]
        _, sep, tag = image.rpartition(":")
        assert sep and tag != "latest", f"{name}: {image}"
        assert re.search(r"\d+\.\d+", tag), f"{name}: {image} has no version in its tag"


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        check = service.get("healthcheck")
        assert check and check.get("test"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name


def published(service: dict[str, Any]) -> list[str]:
    """Container ports published to the host."""
    out = []
    for entry in service.get("ports", []):
        text = str(entry["target"] if isinstance(entry, dict) else entry)
        out.append(text.split("/")[0].rsplit(":", 1)[-1])
    return out


def test_ami_fastagi_and_backends_are_not_published(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        for port in published(service):
            assert port not in PRIVATE_PORTS, f"{name} publishes {port}"
    # Atiende publishes only the agent panel, on localhost (the TLS proxy's upstream).
    assert published(services(compose)["atiende-serve"]) == ["8080"]
    assert all(str(p).startswith("127.0.0.1:") for p in services(compose)["atiende-serve"]["ports"])
    assert "ports" not in services(compose)["atiende-worker"]
    grafana = services(compose)["grafana"]["ports"]
    assert all(str(p).startswith("127.0.0.1:") for p in grafana)


def test_private_networks(compose: dict[str, Any]) -> None:
    networks = compose["networks"]
    for name in ("pbx", "backend", "monitoring"):
        assert networks[name].get("internal") is True, name
    svc = services(compose)

    def nets(name: str) -> set[str]:
        value = svc[name]["networks"]
        return set(value)

    # Only Asterisk and Atiende share the network AMI and FastAGI run on.
    assert {name for name in svc if "pbx" in nets(name)} == {"asterisk", "atiende-serve"}
    assert {name for name in svc if "backend" in nets(name)} == {
        "postgres", "redis", "atiende-serve", "atiende-worker",
    }  # fmt: skip


def test_addresses_agree_with_the_asterisk_configs(compose: dict[str, Any]) -> None:
    svc = services(compose)
    bridge = svc["atiende-serve"]["networks"]["pbx"]["ipv4_address"]
    asterisk = svc["asterisk"]["networks"]["pbx"]["ipv4_address"]
    env = svc["atiende-serve"]["environment"]
    assert env["ATIENDE_AMI__HOST"] == asterisk
    assert asterisk in env["ATIENDE_IVR__ALLOWED_NETWORKS"]
    manager = (DEPLOY / "asterisk" / "manager.conf").read_text(encoding="utf-8")
    assert f"permit = {bridge}/255.255.255.255" in manager
    extensions = (DEPLOY / "asterisk" / "extensions.conf").read_text(encoding="utf-8")
    assert f"AGI_HOST = {bridge}:4573" in extensions


def test_mounted_files_exist(compose: dict[str, Any]) -> None:
    """Every bind mount points at a file of the repository (secrets and env
    files at their *.example)."""
    for name, service in services(compose).items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith("."):
                continue  # a named volume
            path = (DEPLOY / source).resolve()
            assert path.exists() or Path(f"{path}.example").exists(), f"{name}: {source}"
        env_file = service.get("env_file")
        if env_file:
            assert (DEPLOY / f"{env_file}.example").exists(), name
    for secret in compose.get("secrets", {}).values():
        assert (DEPLOY / f"{secret['file']}.example").exists()


def test_secrets_stay_out_of_the_repository(compose: dict[str, Any]) -> None:
    ignore = (DEPLOY / "secrets" / ".gitignore").read_text(encoding="utf-8").split()
    assert "*" in ignore and "!*.example" in ignore
    assert "*.env" in (DEPLOY / "env" / ".gitignore").read_text(encoding="utf-8").split()
    for name, service in services(compose).items():
        for key in service.get("environment", {}):
            if re.search("PASSWORD|SECRET", key):
                assert key.endswith("_FILE"), f"{name}: {key} in the compose file"
