#!/usr/bin/env bash
# Creates .venv with the project and its dev tools. Safe to run again: it only
# reinstalls when pyproject.toml changed. Installs Debian's python3-venv when
# the interpreter cannot make virtual environments (fresh Debian images).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=.venv/.installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "bootstrap: installing python3-venv with apt-get" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >/dev/null
      "$PY" -m venv .venv
    else
      echo "bootstrap: '$PY -m venv' failed; install python3-venv (Debian) and retry" >&2
      exit 1
    fi
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
touch "$stamp"
