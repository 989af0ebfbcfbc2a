#!/usr/bin/env bash
# Runs a command with the real PostgreSQL, Redis, Prometheus, Chromium, espeak-ng,
# sox, Dovecot and OpenSMTPD the tests need.
#
# If the servers named by ATIENDE_TEST_POSTGRES_URL / ATIENDE_TEST_REDIS_URL
# (defaults: the local ones on 5432 and 6379) answer, they are used as they are.
# Otherwise the binaries are installed from Debian's packages when possible and
# throwaway instances are started in a temporary directory on spare ports, then
# stopped when the command ends. Nothing outside that directory is touched
# (apart from the Debian packages installed when missing).
#
# Check the throwaway path on any machine (nothing listens on port 1):
#   ATIENDE_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:1/postgres \
#   ATIENDE_TEST_REDIS_URL=redis://127.0.0.1:1/3 scripts/with-test-services.sh true
set -euo pipefail
cd "$(dirname "$0")/.."

: "${ATIENDE_TEST_POSTGRES_URL:=postgresql+psycopg://postgres@127.0.0.1:5432/postgres}"
: "${ATIENDE_TEST_REDIS_URL:=redis://127.0.0.1:6379/15}"
workdir=""
pg_bin=""
apt_updated=""

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
# An interrupted run still stops its throwaway servers (EXIT runs on these exits).
trap 'exit 130' INT
trap 'exit 143' TERM

is_root() { [ "$(id -u)" = 0 ]; }

# PostgreSQL refuses to run as root: run its tools as the 'postgres' user when
# we are root, from / (that user may not be able to enter the work tree).
su_run() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
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
  if is_root && command -v apt-get >/dev/null; then
    echo "test services: installing $* with apt-get" >&2
    if [ -z "$apt_updated" ]; then
      apt-get update -qq
      apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "test services: $* missing and cannot be installed (not root or no apt-get)" >&2
    return 1
  fi
}

free_port() { py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The database number of a Redis URL (redis://host:port/N), 0 when absent.
redis_db() { py -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).path.strip("/") or 0)' "$1"; }

make_workdir() {
  if [ -z "$workdir" ]; then
    workdir=$(mktemp -d /tmp/atiende-test-services.XXXXXX)
    chmod 755 "$workdir"  # the postgres user enters it
  fi
}

# Tools the tests drive, from Debian's packages; one apt-get run for all that miss.
# command -> package: promtool/prometheus (metrics tests), chromium (browser
# tests), espeak-ng and sox (IVR prompts), systemd-analyze (unit checks),
# redis-server (the fan-out test restarts a Redis of its own), dovecot (IMAP and
# LMTP) and smtpd (OpenSMTPD): tests/support/mail.py starts throwaway instances.
missing=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v sox >/dev/null || missing+=(sox)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v redis-server >/dev/null || missing+=(redis-server)
{ command -v dovecot >/dev/null && [ -x /usr/lib/dovecot/imap ] && [ -x /usr/lib/dovecot/lmtp ]; } ||
  missing+=(dovecot-imapd dovecot-lmtpd)
command -v smtpd >/dev/null || missing+=(opensmtpd)
if [ "${#missing[@]}" -gt 0 ]; then
  apt_install "${missing[@]}" || echo "test services: tests needing ${missing[*]} will fail or skip" >&2
fi

if ! pg_ok; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$pg_bin" ]; then
    apt_install postgresql
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  if is_root && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  fi
  make_workdir
  mkdir -p "$workdir/pg" "$workdir/sock"
  if is_root; then chown postgres "$workdir/pg" "$workdir/sock"; fi
  port=$(free_port)
  su_run "$pg_bin/initdb" -D "$workdir/pg" -U postgres --auth=trust -E UTF8 >/dev/null
  su_run "$pg_bin/pg_ctl" -D "$workdir/pg" -w -l "$workdir/pg/log" \
    -o "-p $port -k $workdir/sock -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  export ATIENDE_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
  pg_ok || { echo "test services: the throwaway PostgreSQL does not answer" >&2; exit 1; }
  echo "test services: throwaway PostgreSQL on port $port" >&2
fi

if ! redis_ok; then
  db=$(redis_db "$ATIENDE_TEST_REDIS_URL")
  command -v redis-server >/dev/null || apt_install redis-server
  make_workdir
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$workdir" \
    --daemonize yes --pidfile "$workdir/redis.pid" --logfile "$workdir/redis.log"
  export ATIENDE_TEST_REDIS_URL="redis://127.0.0.1:$port/$db"
  for _ in $(seq 50); do redis_ok && break; sleep 0.1; done
  redis_ok || { echo "test services: the throwaway Redis does not answer" >&2; exit 1; }
  echo "test services: throwaway Redis on port $port" >&2
fi

# Not exec: the EXIT trap must stop the throwaway servers after the command.
"$@"
