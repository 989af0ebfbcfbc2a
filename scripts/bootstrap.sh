#!/usr/bin/env bash
# Creates .venv with the project and its dev tools, at the versions pinned in
# requirements.lock (every clone gets the same ones; `make lock` renews them).
# Safe to run again: it reinstalls only when pyproject.toml or requirements.lock
# changed (their hash is kept in .venv/.installed). Installs Debian's
# python3-venv when the interpreter cannot make virtual environments (fresh
# Debian images).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=.venv/.installed
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/python ]; then
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
# -c: the lock constrains every package, the project's own and their dependencies.
.venv/bin/python -m pip install -q -c requirements.lock -e '.[dev]'
echo "$want" > "$stamp"
