#!/usr/bin/env bash
# Runs a command with the real PostgreSQL, Redis, Prometheus and Chromium the tests need.
#
# If the servers named by ATIENDE_TEST_POSTGRES_URL / ATIENDE_TEST_REDIS_URL
# (defaults: the local ones on 5432 and 6379) answer, they are used as they are.
# Otherwise the binaries are installed from Debian's packages when possible and
# throwaway instances are started in a temporary directory on spare ports, then
# stopped when the command ends. Nothing outside that directory is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${ATIENDE_TEST_POSTGRES_URL:=postgresql+psycopg://postgres@127.0.0.1:5432/postgres}"
: "${ATIENDE_TEST_REDIS_URL:=redis://127.0.0.1:6379/15}"
workdir=""
pg_bin=""
cleanup() {
  if [ -n "$workdir" ]; then
    if [ -n "$pg_bin" ] && [ -f "$workdir/pg/postmaster.pid" ]; then
      su_run "$pg_bin/pg_ctl" -D "$workdir/pg" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [ -f "$workdir/redis.pid" ]; then kill "$(cat "$workdir/redis.pid")" 2>/dev/null || true; fi
    rm -rf "$workdir"
  fi
}
trap cleanup EXIT

# PostgreSQL refuses to run as root: run its tools as the 'postgres' user when we are root.
su_run() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- # The metrics tests run a real Prometheus and promtool (Debian's package).
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  apt_install prometheus || echo "test services: the Prometheus tests will be skipped" >&2
fi

# The agent panel's browser tests drive Debian's Chromium (Playwright never
# downloads a browser of its own here).
if ! command -v chromium >/dev/null; then
  apt_install chromium || echo "test services: the browser tests will be skipped" >&2
fi

"$@"
  else
    # The metrics tests run a real Prometheus and promtool (Debian's package).
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  apt_install prometheus || echo "test services: the Prometheus tests will be skipped" >&2
fi

# The agent panel's browser tests drive Debian's Chromium (Playwright never
# downloads a browser of its own here).
if ! command -v chromium >/dev/null; then
  apt_install chromium || echo "test services: the browser tests will be skipped" >&2
fi

"$@"
  fi
}

py() { .venv/bin/python "$@"; }

pg_ok() {
  py - "$ATIENDE_TEST_POSTGRES_URL" <<'PY' >/dev/null 2>&1
import sys
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1], connect_args={"connect_timeout": 3})
with engine.connect() as conn:
    conn.execute(text("select 1"))
PY
}

redis_ok() {
  py - "$ATIENDE_TEST_REDIS_URL" <<'PY' >/dev/null 2>&1
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=3).ping()
PY
}

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test services: installing $* with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "test services: $* missing and cannot be installed (not root or no apt-get)" >&2
    return 1
  fi
}

free_port() { py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if ! pg_ok; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$pg_bin" ]; then apt_install postgresql; pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1); fi
  workdir=${workdir:-$(mktemp -d /tmp/atiende-test-services.XXXXXX)}
  chmod 755 "$workdir"
  mkdir -p "$workdir/pg" "$workdir/sock"
  [ "$(id -u)" = 0 ] && chown postgres "$workdir/pg" "$workdir/sock"
  port=$(free_port)
  su_run "$pg_bin/initdb" -D "$workdir/pg" -U postgres --auth=trust -E UTF8 >/dev/null
  su_run "$pg_bin/pg_ctl" -D "$workdir/pg" -w -l "$workdir/pg/log" \
    -o "-p $port -k $workdir/sock -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  export ATIENDE_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
  echo "test services: throwaway PostgreSQL on port $port" >&2
fi

if ! redis_ok; then
  command -v redis-server >/dev/null || apt_install redis-server
  workdir=${workdir:-$(mktemp -d /tmp/atiende-test-services.XXXXXX)}
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$workdir" \
    --daemonize yes --pidfile "$workdir/redis.pid" --logfile "$workdir/redis.log"
  for _ in $(seq 50); do [ -f "$workdir/redis.pid" ] && break; sleep 0.1; done
  export ATIENDE_TEST_REDIS_URL="redis://127.0.0.1:$port/15"
  echo "test services: throwaway Redis on port $port" >&2
fi

# The metrics tests run a real Prometheus and promtool (Debian's package).
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  apt_install prometheus || echo "test services: the Prometheus tests will be skipped" >&2
fi

# The agent panel's browser tests drive Debian's Chromium (Playwright never
# downloads a browser of its own here).
if ! command -v chromium >/dev/null; then
  apt_install chromium || echo "test services: the browser tests will be skipped" >&2
fi

# [ivr10, issue 10] `atiende prompts build` and its tests synthesise the IVR
# prompts offline with Debian's espeak-ng and convert them with sox.
if ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null; then
  apt_install espeak-ng sox || echo "test services: the prompt synthesis tests will be skipped" >&2
fi

"$@"
