#!/usr/bin/env bash
# Local Apache Kafka broker without Docker: resolves the broker pinned in
# scripts/kafka/pom.xml from Maven Central and runs it as a single KRaft node.
# See docs/adr/0002-kafka-from-maven-central.md.
#
#   bash scripts/kafka.sh start|stop|status|logs
#
# Environment:
#   KAFKA_BROKERS          host:port clients use            (default 127.0.0.1:9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port            (default: client port + 1)
#   KAFKA_CACHE_DIR        jars, data and logs              (default <repo>/.cache/kafka)
#   KAFKA_HEAP_OPTS        JVM heap                         (default -Xms256m -Xmx512m)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
POM="$HERE/kafka/pom.xml"
VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"

export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
BROKER="${KAFKA_BROKERS%%,*}"        # the first broker of the list is the one we run
HOST="${BROKER%:*}"
PORT="${BROKER##*:}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"

CACHE="${KAFKA_CACHE_DIR:-$REPO/.cache/kafka}"
LIBS="$CACHE/$VERSION/libs"
# One data dir, log dir and pid file per client port, so two brokers never share storage.
SUFFIX=""
[[ "$PORT" == 9092 ]] || SUFFIX="-$PORT"
DATA_DIR="$CACHE/data$SUFFIX"
LOG_DIR="$CACHE/logs$SUFFIX"
PID_FILE="$CACHE/kafka$SUFFIX.pid"
CONFIG="$CACHE/server$SUFFIX.properties"

log() { echo "kafka: $*"; }
die() { echo "kafka: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "'$1' not found on PATH: $2"; }

ping_broker() {
  local rc=0
  node "$HERE/kafka/ping.mjs" || rc=$?
  [[ $rc -ne 2 ]] || exit 1 # kafkajs missing: ping.mjs already said so
  return $rc
}

owned_pid() { # prints the pid of the broker we started, if it is still running
  [[ -f "$PID_FILE" ]] || return 1
  local pid; pid="$(cat "$PID_FILE")"
  # Checking the command line too: after a reboot the pid may belong to something else.
  ps -p "$pid" -o args= 2>/dev/null | grep -q kafka.Kafka && echo "$pid"
}

# java with a bounded heap, the broker's usual G1 settings, our logging and the jars.
read -ra HEAP <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
JAVA=(java "${HEAP[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
  -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
  -Dlog4j2.configurationFile="$HERE/kafka/log4j2.yaml" -Dkafka.logs.dir="$LOG_DIR"
  -cp "$LIBS/*")

resolve() { # download the pinned broker jars once per version
  [[ -d "$LIBS" ]] && return
  need mvn "install Maven 3.6.3+ (used to download Kafka $VERSION from Maven Central)"
  log "resolving Kafka $VERSION from Maven Central into $LIBS"
  local t=$SECONDS
  mkdir -p "$CACHE/$VERSION"
  rm -rf "$LIBS.tmp"
  mvn -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$LIBS.tmp" >"$CACHE/$VERSION/mvn.log" 2>&1 \
    || { tail -n 30 "$CACHE/$VERSION/mvn.log"; die "artifact resolution failed (full log: $CACHE/$VERSION/mvn.log)"; }
  mv "$LIBS.tmp" "$LIBS" # only a complete download counts as cached
  log "resolved in $((SECONDS - t)) s"
}

configure() { # render the config, format the storage the first time
  sed -e "s|@HOST@|$HOST|g" -e "s|@PORT@|$PORT|g" \
    -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" -e "s|@DATA_DIR@|$DATA_DIR|g" \
    "$HERE/kafka/server.properties.template" >"$CONFIG"
  [[ -f "$DATA_DIR/meta.properties" ]] && return
  local id; id="$("${JAVA[@]}" kafka.tools.StorageTool random-uuid)"
  "${JAVA[@]}" kafka.tools.StorageTool format --cluster-id "$id" --config "$CONFIG" --standalone \
    >"$LOG_DIR/format.out" 2>&1 || { cat "$LOG_DIR/format.out"; die "storage format failed"; }
  log "formatted $DATA_DIR (cluster id $id)"
}

start() {
  if ping_broker; then log "reusing broker on $KAFKA_BROKERS"; return; fi
  need java "install a Java 17+ runtime"
  local t=$SECONDS pid
  if pid="$(owned_pid)"; then
    log "broker pid $pid is still starting, waiting for it"
  else
    resolve
    mkdir -p "$DATA_DIR" "$LOG_DIR"
    configure
    # setsid: own session and process group, so Ctrl-C or closing the terminal that
    # ran npm does not reach the broker (nohup where setsid is missing, e.g. macOS).
    local detach=nohup
    command -v setsid >/dev/null && detach=setsid
    "$detach" "${JAVA[@]}" kafka.Kafka "$CONFIG" </dev/null >"$LOG_DIR/kafka.out" 2>&1 &
    pid=$! # setsid and nohup exec java, so this is the JVM's pid
    echo "$pid" >"$PID_FILE"
  fi
  for _ in $(seq 120); do
    if ping_broker; then
      log "started broker on $KAFKA_BROKERS (pid $pid) in $((SECONDS - t)) s"
      return
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  tail -q -n 30 "$LOG_DIR/kafka.out" "$LOG_DIR/server.log" 2>/dev/null || true
  kill -0 "$pid" 2>/dev/null && die "broker pid $pid did not answer within 60 s"
  rm -f "$PID_FILE"
  die "broker exited during startup (logs: $LOG_DIR)"
}

stop() {
  local pid
  if ! pid="$(owned_pid)"; then
    [[ -f "$PID_FILE" ]] && { rm -f "$PID_FILE"; log "broker already stopped"; return; }
    log "no broker started by this project"
    return
  fi
  kill -TERM "$pid"
  for _ in $(seq 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid still running after 30 s, killing it"
    kill -KILL "$pid"
  fi
  rm -f "$PID_FILE"
  log "stopped broker pid $pid"
}

status() {
  local pid answers=no
  ping_broker && answers=yes
  if pid="$(owned_pid)"; then
    log "broker on $KAFKA_BROKERS answers: $answers; started by this project (pid $pid)"
  else
    log "broker on $KAFKA_BROKERS answers: $answers; not started by this project"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  logs) exec tail -n 100 -F "$LOG_DIR/server.log" ;;
  *) die "usage: $0 start|stop|status|logs" ;;
esac
