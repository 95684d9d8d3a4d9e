#!/usr/bin/env bash
# Kafka Connect with Debezium's Postgres connector, without Docker: the outbox relay as change data
# capture (OUTBOX_RELAY=debezium). Resolves the worker and connector pinned in
# scripts/connect/pom.xml from Maven Central, and runs a standalone worker beside a Postgres of its
# own with wal_level=logical (the shared server's WAL is not logical).
#
#   bash scripts/connect.sh fetch     resolve the jars into the cache (once per pom)
#   bash scripts/connect.sh start     (npm run connect:start) the logical-WAL Postgres and a worker,
#                                     in the background; prints the DATABASE_URL to use
#   bash scripts/connect.sh stop      (npm run connect:stop) deletes the connectors, drops the
#                                     replication slots (and the offsets that go with them), stops both
#   bash scripts/connect.sh status|logs
#   bash scripts/connect.sh worker    runs a worker in the foreground (PrivateConnect uses this)
#
# Then register the capture connector: npm run connect:register -- --topic orders.events
#
# Environment:
#   CONNECT_PORT        the worker's REST port                     (default 8083)
#   CONNECT_PG_PORT     the logical-WAL Postgres' port             (default 5433)
#   KAFKA_BROKERS       host:port list the worker produces to      (default 127.0.0.1:9092)
#   CONNECT_CACHE_DIR   jars, Postgres data, worker folders        (default <repo>/.cache/connect)
#   CONNECT_HOME        the worker's folder: config, offsets, logs (default <cache>/worker-<port>)
#   CONNECT_HEAP_OPTS   the worker's JVM heap                      (default -Xms128m -Xmx512m)
#   CONNECT_HOST        the address the REST API listens on        (default 127.0.0.1; 0.0.0.0 in a container)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
POM="$HERE/connect/pom.xml"
VERSION="$(sed -n 's:.*<connect.version>\(.*\)</connect.version>.*:\1:p' "$POM")"
DEBEZIUM="$(sed -n 's:.*<debezium.version>\(.*\)</debezium.version>.*:\1:p' "$POM")"

log() { echo "connect: $*"; }
die() { echo "connect: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "'$1' not found on PATH: $2"; }

port_var() { # validates the port in variable $1 (default $2) and prints it
  local value="${!1:-$2}"
  [[ "$value" =~ ^[0-9]+$ ]] && ((value > 0 && value < 65536)) || die "$1 must be a TCP port (1-65535), not '$value'"
  echo "$value"
}
PORT="$(port_var CONNECT_PORT 8083)"
PG_PORT="$(port_var CONNECT_PG_PORT 5433)"
BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
[[ "$BROKERS" =~ ^[^,:]+:[0-9]+(,[^,:]+:[0-9]+)*$ ]] || die "KAFKA_BROKERS must list host:port entries separated by commas, not '$BROKERS'"

CACHE="${CONNECT_CACHE_DIR:-$REPO/.cache/connect}"
LIBS="$CACHE/$VERSION/libs"
HOME_DIR="${CONNECT_HOME:-$CACHE/worker-$PORT}"
PG_DIR="$CACHE/postgres"
PG_DATA="$PG_DIR/data"
REST="http://127.0.0.1:$PORT"

# The jars are those of one pom and one transform source: either changed, they resolve again.
STAMP="$(cat "$POM" "$HERE"/connect/transforms/orders/connect/*.java | cksum)"
resolve() { # download the pinned jars once, and build our one transform against them
  [[ -f "$LIBS/.stamp" && "$(cat "$LIBS/.stamp")" == "$STAMP" ]] && return
  need mvn "install Maven 3.6.3+ (used to download Kafka Connect $VERSION and Debezium $DEBEZIUM from Maven Central)"
  need javac "install a Java 17+ JDK (javac builds the DropNullHeaders transform)"
  log "resolving Kafka Connect $VERSION and Debezium $DEBEZIUM from Maven Central into $LIBS"
  local t=$SECONDS build="$CACHE/$VERSION/transforms"
  mkdir -p "$CACHE/$VERSION"
  rm -rf "$LIBS.tmp" "$LIBS.old" "$build"
  mvn -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$LIBS.tmp" >"$CACHE/$VERSION/mvn.log" 2>&1 \
    || { tail -n 30 "$CACHE/$VERSION/mvn.log"; die "artifact resolution failed (full log: $CACHE/$VERSION/mvn.log)"; }
  mkdir -p "$build"
  javac --release 17 -nowarn -cp "$LIBS.tmp/*" -d "$build" "$HERE"/connect/transforms/orders/connect/*.java \
    || die "building scripts/connect/transforms failed"
  cp -r "$HERE/connect/transforms/META-INF" "$build/"
  jar cf "$LIBS.tmp/orders-connect-transforms.jar" -C "$build" .
  rm -rf "$build"
  echo "$STAMP" >"$LIBS.tmp/.stamp"
  # Only a complete download counts as cached; a worker running from the old jars keeps them open.
  [[ -d "$LIBS" ]] && mv "$LIBS" "$LIBS.old"
  mv "$LIBS.tmp" "$LIBS"
  rm -rf "$LIBS.old"
  log "resolved in $((SECONDS - t)) s"
}

# Runs a worker in the foreground, in place of this shell (exec: the JVM keeps this pid).
worker() {
  need java "install a Java 17+ runtime"
  resolve >&2
  mkdir -p "$HOME_DIR/logs"
  sed -e "s|@BROKERS@|$BROKERS|g" -e "s|@HOST@|${CONNECT_HOST:-127.0.0.1}|g" -e "s|@PORT@|$PORT|g" -e "s|@HOME@|$HOME_DIR|g" \
    "$HERE/connect/worker.properties.template" >"$HOME_DIR/worker.properties"
  local heap
  read -ra heap <<<"${CONNECT_HEAP_OPTS:--Xms128m -Xmx512m}"
  exec java "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$HERE/connect/log4j2.properties" -Dconnect.logs.dir="$HOME_DIR/logs" \
    -cp "$LIBS/*" org.apache.kafka.connect.cli.ConnectStandalone "$HOME_DIR/worker.properties"
}

worker_pid() { # the pid of the worker we started, if it still runs
  [[ -f "$HOME_DIR/connect.pid" ]] || return 1
  local pid; pid="$(cat "$HOME_DIR/connect.pid")"
  # The command line too: after a reboot the pid may belong to something else.
  ps -p "$pid" -o args= 2>/dev/null | grep -q ConnectStandalone && echo "$pid"
}

rest_answers() { curl -fs -o /dev/null --max-time 2 "$REST/connectors"; }

# The logical-WAL Postgres, owned by the postgres user when we run as root (Postgres refuses root).
pg_bin() {
  local dir
  dir="$(pg_config --bindir 2>/dev/null || true)"
  [[ -n "$dir" && -x "$dir/initdb" ]] || dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$dir" && -x "$dir/initdb" ]] || die "initdb not found: install the Postgres server (pg_config --bindir names it)"
  echo "$dir"
}
as_owner() { if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi; }
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -At "$@"; }

start_postgres() {
  local bin; bin="$(pg_bin)"
  if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
    mkdir -p "$PG_DIR"
    ((EUID == 0)) && chown postgres: "$PG_DIR"
    as_owner "$bin/initdb" -D "$PG_DATA" --auth=trust -U postgres -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
      || { cat "$PG_DIR/initdb.log"; die "initdb into $PG_DATA failed"; }
  fi
  if as_owner "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    log "reusing Postgres on $PG_PORT"
  else
    # logical: pgoutput decodes the WAL. max_slot_wal_keep_size: a slot forgotten on a laptop
    # stops holding WAL past 1 GB (its connector then fails loudly) instead of filling the disk.
    local options="-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c wal_level=logical"
    options+=" -c max_replication_slots=10 -c max_wal_senders=10 -c max_slot_wal_keep_size=1GB"
    as_owner "$bin/pg_ctl" -D "$PG_DATA" -o "$options" -l "$PG_DIR/postgres.log" start -w -t 60 >/dev/null \
      || { tail -n 20 "$PG_DIR/postgres.log"; die "Postgres did not start on $PG_PORT (log: $PG_DIR/postgres.log)"; }
  fi
  [[ "$(psql_admin -c "SELECT count(*) FROM pg_database WHERE datname = 'orders'")" == 1 ]] \
    || psql_admin -c 'CREATE DATABASE orders'
}

start() {
  need java "install a Java 17+ runtime"
  need curl "install curl (asks the worker's REST API)"
  need psql "install the Postgres client"
  resolve
  start_postgres
  local pid t=$SECONDS
  if pid="$(worker_pid)"; then
    log "reusing worker on $REST (pid $pid)"
  else
    rest_answers && die "something else answers on $REST: set CONNECT_PORT"
    mkdir -p "$HOME_DIR/logs"
    # setsid: its own session, so Ctrl-C in the terminal that ran npm does not reach the worker.
    local detach=nohup
    command -v setsid >/dev/null && detach=setsid
    "$detach" bash "$0" worker </dev/null >"$HOME_DIR/logs/connect.out" 2>&1 &
    pid=$! # setsid and bash exec java, so this is the JVM's pid
    echo "$pid" >"$HOME_DIR/connect.pid"
    for _ in $(seq 240); do
      rest_answers && break
      kill -0 "$pid" 2>/dev/null || { tail -n 30 "$HOME_DIR/logs/connect.out" "$HOME_DIR/logs/connect.log" 2>/dev/null; die "the worker exited"; }
      sleep 0.25
    done
    rest_answers || die "the worker did not answer on $REST within 60 s (log: $HOME_DIR/logs/connect.log)"
    log "started worker on $REST (pid $pid) in $((SECONDS - t)) s, producing to $BROKERS"
  fi
  log "Postgres with logical WAL: DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/orders"
  log "then: npm run db:migrate, and npm run connect:register -- --topic orders.events (with that DATABASE_URL)"
}

stop() {
  local pid name names
  if pid="$(worker_pid)" && rest_answers; then
    names="$(curl -fsS "$REST/connectors" | node -e 'for (const n of JSON.parse(require("fs").readFileSync(0, "utf8"))) console.log(n)')"
    for name in $names; do
      curl -fsS -o /dev/null -X DELETE "$REST/connectors/$name" && log "deleted connector $name"
    done
  fi
  if pid="$(worker_pid)"; then
    kill -TERM "$pid"
    for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then log "pid $pid still running after 30 s, killing it"; kill -KILL "$pid"; fi
    log "stopped worker (pid $pid)"
  else
    log "no worker started by this project on $PORT"
  fi
  rm -f "$HOME_DIR/connect.pid"
  local bin; bin="$(pg_bin)"
  if [[ -f "$PG_DATA/PG_VERSION" ]] && as_owner "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    # A slot outlives its connector and holds WAL for ever: drop them all (this Postgres is ours).
    # Its walsender leaves a moment after the worker: wait for the slots to be inactive.
    for _ in $(seq 120); do
      [[ "$(psql_admin -c 'SELECT count(*) FROM pg_replication_slots WHERE active')" == 0 ]] && break
      sleep 0.25
    done
    for name in $(psql_admin -c 'SELECT slot_name FROM pg_replication_slots'); do
      psql_admin -c "SELECT pg_drop_replication_slot('$name')" >/dev/null && log "dropped replication slot $name"
    done
    as_owner "$bin/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null && log "stopped Postgres on $PG_PORT"
  fi
  # The worker's offsets name positions in the slots just dropped: kept, they would point a new
  # slot's connector at LSNs it never had. Offsets and slots go together.
  rm -f "$HOME_DIR/offsets.dat"
}

status() {
  local pid
  if pid="$(worker_pid)"; then log "worker on $REST: started by this project (pid $pid)"; else log "worker on $REST: not started by this project"; fi
  if rest_answers; then
    local name
    for name in $(curl -fsS "$REST/connectors" | node -e 'for (const n of JSON.parse(require("fs").readFileSync(0, "utf8"))) console.log(n)'); do
      curl -fsS "$REST/connectors/$name/status" | node -e 'const s = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(`connect: connector ${s.name}: ${s.connector.state}; tasks: ${s.tasks.map((t) => `${t.id} ${t.state}`).join(", ") || "none"}`)'
    done
  fi
  if [[ -f "$PG_DATA/PG_VERSION" ]] && as_owner "$(pg_bin)/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    log "Postgres on $PG_PORT runs: DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/orders"
    psql_admin -c "SELECT 'connect: slot ' || slot_name || (CASE WHEN active THEN ' (active)' ELSE ' (inactive)' END) || ', ' || coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0) || ' bytes behind' FROM pg_replication_slots"
  else
    log "Postgres on $PG_PORT: not running"
  fi
}

case "${1:-}" in
  fetch) resolve ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  logs) exec tail -n 100 -F "$HOME_DIR/logs/connect.log" ;;
  worker) worker ;;
  *) die "usage: $0 fetch|start|stop|status|logs|worker" ;;
esac
