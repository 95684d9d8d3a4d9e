#!/usr/bin/env bash
# Local Apache Kafka without Docker: resolves the broker pinned in scripts/kafka/pom.xml from Maven
# Central and runs it as KRaft nodes, each both broker and controller: one by default, or a
# replicated cluster of KAFKA_NODES, optionally with a quorum of dedicated controllers
# (KAFKA_CONTROLLERS). See docs/adr/0002-kafka-from-maven-central.md.
#
#   bash scripts/kafka.sh start|stop|status|logs [node]
#   bash scripts/kafka.sh tool <topics|consumer-groups|configs|get-offsets|delete-records> [args]
#       (npm run kafka -- <tool> [args]) runs one of Kafka's own tools from the same jars, against
#       KAFKA_BROKERS unless the arguments name --bootstrap-server; --help lists the tools.
#
# Environment:
#   KAFKA_NODES            how many nodes                   (default 1; 3 for a replicated cluster)
#   KAFKA_CONTROLLERS      dedicated controller nodes       (default 0: every node is a broker and
#                          a controller; with n > 0 the KAFKA_NODES nodes are brokers only and the
#                          quorum is n controllers, node ids KAFKA_NODES+1 on, on the even ports
#                          after the brokers' (their controller port is that port + 1))
#   KAFKA_BROKERS          host:port clients use            (default 127.0.0.1:9092; with several
#                          nodes, one per node, or the first alone and the others on the next
#                          even ports: 9092, 9094, 9096)
#   KAFKA_CONTROLLER_PORT  one node's KRaft controller port (default: client port + 1, per node)
#   KAFKA_CACHE_DIR        jars, data and logs              (default <repo>/.cache/kafka)
#   KAFKA_HEAP_OPTS        JVM heap per node                (default -Xms256m -Xmx512m; several
#                          nodes: -Xms192m -Xmx384m each)
#   KAFKA_TOOL_HEAP_OPTS   JVM heap of a tool               (default -Xms32m -Xmx256m)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
POM="$HERE/kafka/pom.xml"
VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"

log() { echo "kafka: $*"; }
die() { echo "kafka: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "'$1' not found on PATH: $2"; }

NODES="${KAFKA_NODES:-1}"
[[ "$NODES" =~ ^[1-9]$ ]] || die "KAFKA_NODES must be a number of nodes from 1 to 9, not '$NODES'"
CONTROLLERS="${KAFKA_CONTROLLERS:-0}"
[[ "$CONTROLLERS" =~ ^[0-9]$ ]] || die "KAFKA_CONTROLLERS must be a number of controllers from 0 to 9, not '$CONTROLLERS'"
((CONTROLLERS == 0 || NODES > 1)) || die "KAFKA_CONTROLLERS needs KAFKA_NODES of 2 or more (one node is broker and controller)"
ALL=$((NODES + CONTROLLERS)) # node ids 1..ALL: the brokers first, then any dedicated controllers
# The tools talk to whatever cluster is configured: all of its brokers when several are listed.
CONFIGURED_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
IFS=',' read -ra LISTED <<<"$CONFIGURED_BROKERS"
FIRST="${LISTED[0]}"
HOST="${FIRST%:*}"
BASE_PORT="${FIRST##*:}"
[[ "$BASE_PORT" =~ ^[0-9]+$ ]] || die "KAFKA_BROKERS must list host:port entries, not '${KAFKA_BROKERS:-}'"
if ((NODES > 1 && ${#LISTED[@]} != NODES)); then
  ((${#LISTED[@]} == 1)) || die "KAFKA_BROKERS lists ${#LISTED[@]} brokers for KAFKA_NODES=$NODES: list one per node, or only the first"
  LISTED=()
  for ((i = 0; i < NODES; i++)); do LISTED+=("$HOST:$((BASE_PORT + 2 * i))"); done
fi
((NODES == 1)) && LISTED=("$FIRST") # one node: the first broker of the list is the one we run
KAFKA_BROKERS="$(IFS=','; echo "${LISTED[*]}")"
((NODES > 1)) && CONFIGURED_BROKERS="$KAFKA_BROKERS" # every node, as scripts/lib/infra.mjs kafkaBrokers() has it
export KAFKA_BROKERS KAFKA_NODES="$NODES" # ping.mjs waits for every node

CACHE="${KAFKA_CACHE_DIR:-$REPO/.cache/kafka}"
LIBS="$CACHE/$VERSION/libs"
if ((NODES == 1)); then
  # One data dir, log dir and pid file per client port, so two brokers never share storage.
  SUFFIX=""
  [[ "$BASE_PORT" == 9092 ]] || SUFFIX="-$BASE_PORT"
  HOME_OF() { echo "$CACHE"; }
else
  CLUSTER="$CACHE/cluster$NODES-$BASE_PORT"
  ((CONTROLLERS == 0)) || CLUSTER="$CACHE/cluster${NODES}c$CONTROLLERS-$BASE_PORT"
  HOME_OF() { echo "$CLUSTER/node$1"; }
fi

# Per node (ids from 1): its client port, controller port and where it keeps its files.
port_of() { # a dedicated controller has no client port: the even port it would have is kept free
  if (($1 > NODES)); then echo $((BASE_PORT + 2 * ($1 - 1))); return; fi
  local broker="${LISTED[$(($1 - 1))]}"
  echo "${broker##*:}"
}
roles_of() { # process.roles of node $1
  if ((CONTROLLERS == 0)); then echo broker,controller; elif (($1 > NODES)); then echo controller; else echo broker; fi
}
controller_port_of() {
  if ((NODES == 1)) && [[ -n "${KAFKA_CONTROLLER_PORT:-}" ]]; then echo "$KAFKA_CONTROLLER_PORT"; else echo $(($(port_of "$1") + 1)); fi
}
data_dir_of() { ((NODES == 1)) && echo "$CACHE/data$SUFFIX" || echo "$(HOME_OF "$1")/data"; }
log_dir_of() { ((NODES == 1)) && echo "$CACHE/logs$SUFFIX" || echo "$(HOME_OF "$1")/logs"; }
pid_file_of() { ((NODES == 1)) && echo "$CACHE/kafka$SUFFIX.pid" || echo "$(HOME_OF "$1")/kafka.pid"; }
config_of() { ((NODES == 1)) && echo "$CACHE/server$SUFFIX.properties" || echo "$(HOME_OF "$1")/server.properties"; }

ping_broker() {
  local rc=0
  node "$HERE/kafka/ping.mjs" || rc=$?
  [[ $rc -ne 2 ]] || exit 1 # kafkajs missing: ping.mjs already said so
  return $rc
}

running() { # whether pid $1 runs: an exited process nobody has reaped yet (a zombie) does not
  local state
  state="$(ps -p "$1" -o stat= 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z* ]]
}

owned_pid() { # prints the pid of node $1 if we started it and it is still running
  local pid_file; pid_file="$(pid_file_of "$1")"
  [[ -f "$pid_file" ]] || return 1
  local pid; pid="$(cat "$pid_file")"
  # Checking the command line too: after a reboot the pid may belong to something else.
  ps -p "$pid" -o args= 2>/dev/null | grep -q kafka.Kafka && echo "$pid"
}

# java with a bounded heap, the broker's usual G1 settings, our logging and the jars.
DEFAULT_HEAP="-Xms256m -Xmx512m"
((NODES > 1)) && DEFAULT_HEAP="-Xms192m -Xmx384m"
read -ra HEAP <<<"${KAFKA_HEAP_OPTS:-$DEFAULT_HEAP}"
java_for() { # the JVM command line of node $1
  JAVA=(java "${HEAP[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$HERE/kafka/log4j2.yaml" -Dkafka.logs.dir="$(log_dir_of "$1")"
    -cp "$LIBS/*")
}

# The jars are those of one pom: a pom changed since (a dependency added, a version bumped) resolves again.
POM_STAMP="$(cksum <"$POM")"
resolve() { # download the pinned jars once per version of the pom
  [[ -f "$LIBS/.pom-stamp" && "$(cat "$LIBS/.pom-stamp")" == "$POM_STAMP" ]] && return
  need mvn "install Maven 3.6.3+ (used to download Kafka $VERSION from Maven Central)"
  log "resolving Kafka $VERSION from Maven Central into $LIBS"
  local t=$SECONDS
  mkdir -p "$CACHE/$VERSION"
  rm -rf "$LIBS.tmp" "$LIBS.old"
  mvn -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$LIBS.tmp" >"$CACHE/$VERSION/mvn.log" 2>&1 \
    || { tail -n 30 "$CACHE/$VERSION/mvn.log"; die "artifact resolution failed (full log: $CACHE/$VERSION/mvn.log)"; }
  echo "$POM_STAMP" >"$LIBS.tmp/.pom-stamp"
  # Only a complete download counts as cached. A broker running from the old jars keeps them open,
  # and the same version's jars keep their names, so it goes on undisturbed.
  [[ -d "$LIBS" ]] && mv "$LIBS" "$LIBS.old"
  mv "$LIBS.tmp" "$LIBS"
  rm -rf "$LIBS.old"
  log "resolved in $((SECONDS - t)) s"
}

cluster_id() { # one id for every node of a cluster, made once
  java_for 1
  if ((NODES == 1)); then "${JAVA[@]}" kafka.tools.StorageTool random-uuid; return; fi
  [[ -f "$CLUSTER/cluster.id" ]] || { mkdir -p "$CLUSTER"; "${JAVA[@]}" kafka.tools.StorageTool random-uuid >"$CLUSTER/cluster.id"; }
  cat "$CLUSTER/cluster.id"
}

configure() { # render node $1's config, format its storage the first time
  local id="$1" quorum replication=1 min_isr=1 config data_dir log_dir roles listeners
  config="$(config_of "$id")" data_dir="$(data_dir_of "$id")" log_dir="$(log_dir_of "$id")"
  roles="$(roles_of "$id")"
  case "$roles" in
    broker,controller) listeners="PLAINTEXT://$HOST:$(port_of "$id"),CONTROLLER://$HOST:$(controller_port_of "$id")" ;;
    broker) listeners="PLAINTEXT://$HOST:$(port_of "$id")" ;;
    controller) listeners="CONTROLLER://$HOST:$(controller_port_of "$id")" ;;
  esac
  if ((NODES == 1)); then
    quorum="controller.quorum.bootstrap.servers=$HOST:$(controller_port_of 1)"
  else
    local voters=() n
    for ((n = CONTROLLERS == 0 ? 1 : NODES + 1; n <= ALL; n++)); do voters+=("$n@$HOST:$(controller_port_of "$n")"); done
    quorum="controller.quorum.voters=$(IFS=','; echo "${voters[*]}")"
    replication=$((NODES < 3 ? NODES : 3))
    ((NODES >= 3)) && min_isr=2
  fi
  sed -e "s|@ROLES@|$roles|g" -e "s|@LISTENERS@|$listeners|g" -e "s|@NODE_ID@|$id|g" \
    -e "s|@DATA_DIR@|$data_dir|g" \
    -e "s|@QUORUM@|$quorum|g" -e "s|@REPLICATION@|$replication|g" -e "s|@MIN_ISR@|$min_isr|g" \
    "$HERE/kafka/server.properties.template" >"$config"
  [[ -f "$data_dir/meta.properties" ]] && return
  local cluster standalone=()
  cluster="$(cluster_id)"
  ((NODES == 1)) && standalone=(--standalone)
  java_for "$id"
  "${JAVA[@]}" kafka.tools.StorageTool format --cluster-id "$cluster" --config "$config" "${standalone[@]}" \
    >"$log_dir/format.out" 2>&1 || { cat "$log_dir/format.out"; die "storage format of node $id failed"; }
  log "formatted $data_dir (cluster id $cluster)"
}

launch() { # start node $1 unless it runs; prints its pid
  local id="$1" pid
  if pid="$(owned_pid "$id")"; then echo "$pid"; return; fi
  mkdir -p "$(data_dir_of "$id")" "$(log_dir_of "$id")"
  configure "$id" >&2
  java_for "$id"
  # setsid: own session and process group, so Ctrl-C or closing the terminal that
  # ran npm does not reach the broker (nohup where setsid is missing, e.g. macOS).
  local detach=nohup
  command -v setsid >/dev/null && detach=setsid
  "$detach" "${JAVA[@]}" kafka.Kafka "$(config_of "$id")" </dev/null >"$(log_dir_of "$id")/kafka.out" 2>&1 &
  pid=$! # setsid and nohup exec java, so this is the JVM's pid
  echo "$pid" >"$(pid_file_of "$id")"
  echo "$pid"
}

start() {
  if ping_broker; then log "reusing broker on $KAFKA_BROKERS"; return; fi
  need java "install a Java 17+ runtime"
  resolve
  local t=$SECONDS pids=() id
  for ((id = 1; id <= ALL; id++)); do pids+=("$(launch "$id")"); done
  # A cluster answers once its quorum has a leader and every broker has registered: ping asks all of them.
  for _ in $(seq 180); do
    if ping_broker; then
      log "started $(((NODES == 1)) && echo broker || echo "$NODES-node cluster")$( ((CONTROLLERS == 0)) || echo " with $CONTROLLERS dedicated controllers") on $KAFKA_BROKERS (pid ${pids[*]}) in $((SECONDS - t)) s"
      return
    fi
    for id in "${!pids[@]}"; do kill -0 "${pids[$id]}" 2>/dev/null || break 2; done
    sleep 0.5
  done
  for ((id = 1; id <= ALL; id++)); do
    tail -q -n 30 "$(log_dir_of "$id")/kafka.out" "$(log_dir_of "$id")/server.log" 2>/dev/null || true
  done
  die "did not answer on $KAFKA_BROKERS within 90 s (logs: $(log_dir_of 1)$( ((NODES > 1)) && echo " and the other nodes'"))"
}

stop() {
  local id pid pids=() ids=()
  for ((id = 1; id <= ALL; id++)); do
    if pid="$(owned_pid "$id")"; then
      pids+=("$pid") ids+=("$id")
    else
      rm -f "$(pid_file_of "$id")"
    fi
  done
  ((${#pids[@]} > 0)) || { log "no broker started by this project"; return; }
  # All at once: a node shuts down cleanly only while the quorum still has a majority, so
  # stopping them one by one would leave the last waiting for controllers already gone.
  kill -TERM "${pids[@]}"
  local attempt live
  for attempt in $(seq 60); do
    live=0
    for pid in "${pids[@]}"; do running "$pid" && live=1; done
    ((live)) || break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do
    if running "$pid"; then
      log "pid $pid still running after 30 s, killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  # SIGKILL is not instant for a large JVM: stopped means gone, not signalled.
  for attempt in $(seq 40); do
    live=0
    for pid in "${pids[@]}"; do running "$pid" && live=1; done
    ((live)) || break
    sleep 0.25
  done
  for id in "${ids[@]}"; do rm -f "$(pid_file_of "$id")"; done
  log "stopped $( ((NODES == 1)) && echo broker || echo "nodes ${ids[*]}") (pid ${pids[*]})"
}

status() {
  local answers=no id pid
  ping_broker && answers=yes
  log "$KAFKA_BROKERS answers: $answers"
  for ((id = 1; id <= ALL; id++)); do
    if pid="$(owned_pid "$id")"; then
      log "node $id ($(roles_of "$id")) on $(port_of "$id"): started by this project (pid $pid)"
    else
      log "node $id on $(port_of "$id"): not started by this project"
    fi
  done
}

node_arg() { # the node named on the command line, 1 by default
  local id="${1:-1}"
  [[ "$id" =~ ^[0-9]+$ ]] && ((id >= 1 && id <= ALL)) || die "no node '$id': the nodes are 1 to $ALL"
  echo "$id"
}

# Kafka's own tools by the names of their kafka-*.sh scripts, all in org.apache.kafka:kafka-tools.
# (A case, not an associative array: macOS still ships bash 3.2.)
tool_class() {
  case "$1" in
    topics) echo org.apache.kafka.tools.TopicCommand ;;
    consumer-groups) echo org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    configs) echo org.apache.kafka.tools.ConfigCommand ;;
    get-offsets) echo org.apache.kafka.tools.GetOffsetShell ;;
    delete-records) echo org.apache.kafka.tools.DeleteRecordsCommand ;;
    *) return 1 ;;
  esac
}
TOOL_NAMES="topics, consumer-groups, configs, get-offsets, delete-records"

tool_usage() {
  cat <<USAGE
usage: npm run kafka -- <tool> [arguments]   (bash scripts/kafka.sh tool <tool> [arguments])

Runs one of Kafka's own tools (Kafka $VERSION) against $CONFIGURED_BROKERS (KAFKA_BROKERS),
unless the arguments name --bootstrap-server or --bootstrap-controller.

  topics            kafka-topics.sh            list, describe, create, alter, delete topics
  consumer-groups   kafka-consumer-groups.sh   groups, their members, offsets and lag
  configs           kafka-configs.sh           describe and alter topic, broker and client configs
  get-offsets       kafka-get-offsets.sh       offsets of topic partitions (earliest, latest, by time)
  delete-records    kafka-delete-records.sh    delete records below an offset

Each tool's own help: npm run kafka -- <tool> --help
The lag of every projection: npm run kafka -- consumer-groups --describe --all-groups
USAGE
}

tool() {
  local name="${1:-}"
  case "$name" in
    "" | -h | --help | help) tool_usage; return ;;
  esac
  shift
  local main
  if ! main="$(tool_class "$name")"; then
    echo "kafka: no tool '$name'; the tools are: $TOOL_NAMES (npm run kafka -- --help)" >&2
    exit 2
  fi
  need java "install a Java 17+ runtime"
  resolve >&2 # stdout is the tool's answer, for scripts to read
  local bootstrap=(--bootstrap-server "$CONFIGURED_BROKERS") arg
  for arg in "$@"; do
    case "$arg" in --bootstrap-server | --bootstrap-server=* | --bootstrap-controller | --bootstrap-controller=* | --help | --version) bootstrap=() ;; esac
  done
  local heap
  read -ra heap <<<"${KAFKA_TOOL_HEAP_OPTS:--Xms32m -Xmx256m}"
  # A short-lived client: the serial collector and the C1 compiler start fastest. exec passes the
  # tool's exit code through as ours.
  exec java "${heap[@]}" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$HERE/kafka/tools-log4j2.yaml" -cp "$LIBS/*" "$main" ${bootstrap[@]+"${bootstrap[@]}"} "$@"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  logs)
    node="$(node_arg "${2:-}")" || exit 1
    exec tail -n 100 -F "$(log_dir_of "$node")/server.log"
    ;;
  tool)
    shift
    tool "$@"
    ;;
  *) die "usage: $0 start|stop|status|logs [node] | tool <tool> [args] (tool --help lists them)" ;;
esac
