# Sourced by .ci/run (and usable by hand: `source scripts/postgres-for-tests.sh; ganforge_pg_start`):
# a throwaway PostgreSQL server for the sweep's two-worker test, reachable only through a Unix socket in a
# private temporary folder, with one database. On success it exports GANFORGE_TEST_POSTGRES_URL; on any
# failure it returns 1 and exports GANFORGE_TEST_POSTGRES_SKIP (the reason the test will give for skipping).
# ganforge_pg_stop stops the server and removes the folder. Needs root (apt-get, runuser to `postgres`).

ganforge_pg_fail() {
  export GANFORGE_TEST_POSTGRES_SKIP="$1"
  echo "warning: no PostgreSQL for the sweep tests: $1" >&2
  return 1
}

ganforge_pg_as() {  # run as postgres from /, a folder it may enter (it cannot enter root's clone)
  (cd / && runuser -u postgres -- "$@")
}

ganforge_pg_start() {
  [ "$(id -u)" = 0 ] || { ganforge_pg_fail "not root (initdb runs as the postgres user via runuser)"; return 1; }
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || { ganforge_pg_fail "PostgreSQL is not installed and apt-get is missing"; return 1; }
    echo "== installing PostgreSQL (apt-get install postgresql)"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 \
      || { ganforge_pg_fail "apt-get install -y postgresql failed"; return 1; }
  fi
  GANFORGE_PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  id postgres >/dev/null 2>&1 || { ganforge_pg_fail "no postgres user after installing PostgreSQL"; return 1; }
  GANFORGE_PG_DIR=$(mktemp -d /tmp/ganforge-pg.XXXXXX) || { ganforge_pg_fail "mktemp failed"; return 1; }
  chown postgres: "$GANFORGE_PG_DIR" && chmod 700 "$GANFORGE_PG_DIR" || { ganforge_pg_fail "chown failed"; return 1; }
  local port=5433 log="$GANFORGE_PG_DIR/server.log"
  ganforge_pg_as "$GANFORGE_PG_BIN/initdb" -D "$GANFORGE_PG_DIR/data" -A trust -U postgres \
    >"$GANFORGE_PG_DIR/initdb.log" 2>&1 || { ganforge_pg_fail "initdb failed (see $GANFORGE_PG_DIR/initdb.log)"; return 1; }
  ganforge_pg_as "$GANFORGE_PG_BIN/pg_ctl" -D "$GANFORGE_PG_DIR/data" -l "$log" -w -t 60 \
    -o "-k $GANFORGE_PG_DIR -p $port -c listen_addresses=''" start >/dev/null \
    || { ganforge_pg_fail "pg_ctl start failed (see $log)"; return 1; }
  ganforge_pg_as "$GANFORGE_PG_BIN/createdb" -h "$GANFORGE_PG_DIR" -p "$port" ganforge_test \
    || { ganforge_pg_fail "createdb failed"; return 1; }
  export GANFORGE_TEST_POSTGRES_URL="postgresql+psycopg://postgres@/ganforge_test?host=$GANFORGE_PG_DIR&port=$port"
  echo "== PostgreSQL $(basename "$(dirname "$GANFORGE_PG_BIN")") for the sweep tests: $GANFORGE_TEST_POSTGRES_URL"
}

ganforge_pg_stop() {
  [ -n "${GANFORGE_PG_DIR:-}" ] || return 0
  ganforge_pg_as "$GANFORGE_PG_BIN/pg_ctl" -D "$GANFORGE_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$GANFORGE_PG_DIR"
  GANFORGE_PG_DIR=
}
