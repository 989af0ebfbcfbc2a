#!/usr/bin/env bash
# Renews requirements.lock (`make lock`): resolves pyproject.toml's ranges
# afresh in a throwaway virtual environment and pins every package it got.
# Run it after changing dependencies in pyproject.toml, then `make lint
# typecheck test` and commit pyproject.toml and requirements.lock together;
# `make venv` (scripts/bootstrap.sh) reinstalls every clone from the new lock.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --upgrade pip
"$tmp/venv/bin/python" -m pip install -q -e '.[dev]'
{
  echo "# Every package of the project and its dev tools, pinned: scripts/bootstrap.sh"
  echo "# installs with -c requirements.lock. Renew with 'make lock' (scripts/lock.sh)"
  echo "# after editing pyproject.toml; commit both files together."
  echo "# Python: $("$tmp/venv/bin/python" -c 'import sys; print(sys.version.split()[0])')"
  "$tmp/venv/bin/python" -m pip freeze --exclude-editable | LC_ALL=C sort -f
} > requirements.lock
echo "requirements.lock: $(grep -c '==' requirements.lock) packages pinned"
