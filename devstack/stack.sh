#!/usr/bin/env bash
# The development stack: Apache Kafka (KRaft: one node, or a cluster) and PostgreSQL on 127.0.0.1.
# Usage: devstack/stack.sh start|stop|status|clean-data|kill|restart [kafka|postgres]
#        devstack/stack.sh kill kafka N       (SIGKILL of one node of a cluster)
#        devstack/stack.sh bootstrap          (prints the brokers' addresses, comma-separated)
#
# Everything lives under .devstack/ (git-ignored): downloaded jars in .devstack/cache (kept by
# clean-data), broker and database data in .devstack/kafka and .devstack/postgres. Run as root
# from a checkout the postgres user cannot reach (a private home directory), the database's data
# and log live in that user's home instead, one directory per checkout (see pg_home).
#
# A second, separate stack (the chaos run kills its broker and restarts its database without
# touching the dev stack) takes other ports and another directory:
#   FLEETSTATE_STACK_DIR=... FLEETSTATE_KAFKA_PORT=... FLEETSTATE_KAFKA_CONTROLLER_PORT=...
#   FLEETSTATE_PG_PORT=... devstack/stack.sh start
#
# FLEETSTATE_BROKERS=3 (or more) starts a KRaft cluster instead of one node: every node is
# both broker and controller, node i listens on FLEETSTATE_KAFKA_PORT + 2(i-1) for clients and
# on FLEETSTATE_KAFKA_CONTROLLER_PORT + 2(i-1) for the quorum (9092, 9094, 9096 by default),
# and every topic, the offsets and transaction logs included, has 3 replicas of which 2 must
# have a write (min.insync.replicas=2). Its data lives in .devstack/kafka-cluster, beside the
# one-node broker's, so switching back and forth loses neither (only one runs at a time).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Absolute: PostgreSQL's tools run from / (see as_pg_owner) and the path keys its directory.
STATE="$(realpath -m "${FLEETSTATE_STACK_DIR:-$ROOT/.devstack}")"
CACHE="$ROOT/.devstack/cache"  # jars are shared by every stack of this checkout
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/devstack/pom.xml")"
KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"
KAFKA_DIR="$STATE/kafka"
CLUSTER_DIR="$STATE/kafka-cluster"
KAFKA_PORT="${FLEETSTATE_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${FLEETSTATE_KAFKA_CONTROLLER_PORT:-9093}"
BROKERS="${FLEETSTATE_BROKERS:-1}"
PG_PORT="${FLEETSTATE_PG_PORT:-5433}"
PG_DIR="$STATE/postgres"
START_TIMEOUT="${FLEETSTATE_START_TIMEOUT:-120}"

log() { printf '\033[1m[devstack]\033[0m %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case "$BROKERS" in
  1|[3-9]) ;;
  *) die "FLEETSTATE_BROKERS must be 1, or 3 to 9 (a quorum of 2 survives no failure), not '$BROKERS'" ;;
esac

# Node i of the stack: its directory (the one-node broker keeps the layout it always had) and ports.
node_dir() { if [ "$BROKERS" = 1 ]; then echo "$KAFKA_DIR"; else echo "$CLUSTER_DIR/node-$1"; fi; }
client_port() { echo $((KAFKA_PORT + 2 * ($1 - 1))); }
controller_port() { echo $((CONTROLLER_PORT + 2 * ($1 - 1))); }
KAFKA_BOOTSTRAP="$(for i in $(seq 1 "$BROKERS"); do printf '127.0.0.1:%s\n' "$(client_port "$i")"; done | paste -sd, -)"

apt_install() {
  # Installs Debian packages when we may (root); otherwise says exactly what to install.
  local what="$1"; shift
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing $what with apt-get: $*"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null; then
      DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
    fi
  else
    die "$what is missing. Install it (Debian/Ubuntu: sudo apt-get install $*) and run again."
  fi
}

pid_alive() { # pid_alive FILE PATTERN: the pid in FILE runs a process whose command line has PATTERN
  local file="$1" pattern="$2" pid
  [ -f "$file" ] || return 1
  pid="$(cat "$file" 2>/dev/null || true)"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern"
}

# ---------------------------------------------------------------- Kafka
kafka_resolve() {
  if [ -f "$KAFKA_LIBS/.complete" ]; then return; fi
  command -v java >/dev/null || apt_install "Java 17" openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install "Maven" maven
  log "resolving Apache Kafka $KAFKA_VERSION jars from Maven Central"
  rm -rf "$KAFKA_LIBS"; mkdir -p "$KAFKA_LIBS"
  mvn -q -B -f "$ROOT/devstack/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" >"$CACHE/mvn.log" 2>&1 \
    || { tail -n 30 "$CACHE/mvn.log" >&2; die "mvn could not resolve Kafka $KAFKA_VERSION"; }
  touch "$KAFKA_LIBS/.complete"
  log "resolved $(ls "$KAFKA_LIBS"/*.jar | wc -l) jars"
}

# The JVM command line that runs a Kafka main class on the resolved classpath, as an array (paths
# may hold spaces). node_java I sets NODE_JAVA for node I: its logs in its own directory, and a
# cluster's nodes take less heap (three share a machine).
node_java() {
  local heap=1g; [ "$BROKERS" = 1 ] || heap=512m
  NODE_JAVA=(java -Xms256m "-Xmx$heap" -XX:+UseG1GC -Djava.awt.headless=true
    "-Dkafka.logs.dir=$(node_dir "$1")/logs" "-Dlog4j.configuration=file:$ROOT/devstack/log4j.properties"
    -cp "$KAFKA_LIBS/*")
}
node_java 1
KAFKA_JAVA=("${NODE_JAVA[@]}")

node_properties() { # node_properties I: node I's server.properties, from devstack/kafka.properties
  local i="$1" voters="" n
  for n in $(seq 1 "$BROKERS"); do voters="$voters${voters:+,}$n@127.0.0.1:$(controller_port "$n")"; done
  sed -e "s/127.0.0.1:9092/127.0.0.1:$(client_port "$i")/g" \
    -e "s/127.0.0.1:9093/127.0.0.1:$(controller_port "$i")/g" \
    -e "s/^node.id=.*/node.id=$i/" -e "s/^controller.quorum.voters=.*/controller.quorum.voters=$voters/" \
    "$ROOT/devstack/kafka.properties"
  if [ "$BROKERS" != 1 ]; then # later keys win: the cluster's replication replaces the one node's
    cat <<EOF
# A cluster: every topic, the offsets and transaction state logs too, has 3 replicas, and a
# write is acknowledged once 2 have it, so one node may be down without losing a write.
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
default.replication.factor=3
min.insync.replicas=2
EOF
  fi
  echo "log.dirs=$(node_dir "$i")/data"
}

cluster_id() { # the id every node of the cluster is formatted with: drawn once, kept
  if [ "$BROKERS" = 1 ]; then
    "${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1
    return
  fi
  if [ ! -s "$CLUSTER_DIR/cluster.id" ]; then
    "${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1 >"$CLUSTER_DIR/cluster.id"
    echo "$BROKERS" >"$CLUSTER_DIR/brokers"
  fi
  cat "$CLUSTER_DIR/cluster.id"
}

other_size_alive() { # a Kafka of the other size runs in this stack (it holds the same ports)
  local file
  if [ "$BROKERS" = 1 ]; then
    for file in "$CLUSTER_DIR"/node-*/kafka.pid; do pid_alive "$file" kafka.Kafka && return 0; done
    return 1
  fi
  pid_alive "$KAFKA_DIR/kafka.pid" kafka.Kafka
}

node_start() { # node_start I: starts node I unless it runs; formats its storage the first time
  local i="$1" dir
  dir="$(node_dir "$i")"
  if pid_alive "$dir/kafka.pid" kafka.Kafka; then
    log "Kafka node $i already running (pid $(cat "$dir/kafka.pid"))"
    return
  fi
  node_java "$i"
  local java=("${NODE_JAVA[@]}")
  mkdir -p "$dir/logs"
  if [ ! -f "$dir/data/meta.properties" ]; then
    log "formatting Kafka storage (KRaft) of node $i"
    node_properties "$i" >"$dir/server.properties"
    "${java[@]}" kafka.tools.StorageTool format -t "$(cluster_id)" -c "$dir/server.properties" \
      >"$dir/logs/format.log" 2>&1 || { cat "$dir/logs/format.log" >&2; die "Kafka storage format failed"; }
  fi
  log "starting Kafka $KAFKA_VERSION node $i on 127.0.0.1:$(client_port "$i")"
  nohup "${java[@]}" kafka.Kafka "$dir/server.properties" >"$dir/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
}

kafka_start() {
  kafka_resolve
  if other_size_alive; then die "a Kafka of another size runs in $STATE: stop it first (make stop)"; fi
  if [ "$BROKERS" != 1 ]; then
    mkdir -p "$CLUSTER_DIR"
    local formatted; formatted="$(cat "$CLUSTER_DIR/brokers" 2>/dev/null || echo "$BROKERS")"
    [ "$formatted" = "$BROKERS" ] \
      || die "the cluster in $CLUSTER_DIR has $formatted nodes, not $BROKERS: make clean-data, or another FLEETSTATE_STACK_DIR"
  fi
  local i
  for i in $(seq 1 "$BROKERS"); do node_start "$i"; done
  # Ready means every node answers as a broker of the cluster, not that the JVMs started.
  if ! "$PYTHON" -m services.health wait kafka --bootstrap "$KAFKA_BOOTSTRAP" --brokers "$BROKERS" --timeout "$START_TIMEOUT"; then
    for i in $(seq 1 "$BROKERS"); do
      tail -n 40 "$(node_dir "$i")/logs/server.log" "$(node_dir "$i")/logs/stdout.log" >&2 2>/dev/null || true
    done
    die "Kafka did not become ready within ${START_TIMEOUT}s"
  fi
}

kafka_pidfiles() { # the pid file of every node of this stack, of either size
  local file
  for file in "$KAFKA_DIR/kafka.pid" "$CLUSTER_DIR"/node-*/kafka.pid; do [ -f "$file" ] && echo "$file"; done
  return 0
}

node_name() { basename "$(dirname "$1")"; } # of a pid file: kafka (the one node), node-2, ...
node_label() { [ "$(node_name "$1")" = kafka ] || echo " $(node_name "$1")"; } # "" or " node-2"

stop_pidfile() { # stop_pidfile FILE PATTERN NAME: TERM, wait, then KILL
  local file="$1" pattern="$2" name="$3" pid
  if pid_alive "$file" "$pattern"; then
    pid="$(cat "$file")"
    log "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

kafka_stop() {
  # Every node at once: the last node stopped alone would wait for a quorum that is gone.
  local file
  while IFS= read -r file; do
    stop_pidfile "$file" kafka.Kafka "Kafka $(node_name "$file")" &
  done < <(kafka_pidfiles)
  wait
}

kafka_kill() { # kafka_kill [I]: SIGKILL of node I (of every node without I), as a crash would
  local file pid
  while IFS= read -r file; do
    if [ -n "${1:-}" ] && [ "$file" != "$(node_dir "$1")/kafka.pid" ]; then continue; fi
    if pid_alive "$file" kafka.Kafka; then
      pid="$(cat "$file")"
      log "killing Kafka $(node_name "$file") (pid $pid)"
      kill -9 "$pid"
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$file"
  done < <(kafka_pidfiles)
}

# ---------------------------------------------------------------- PostgreSQL
pg_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    apt_install "PostgreSQL" postgresql postgresql-contrib >&2
    dir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  fi
  echo "$dir"
}

# PostgreSQL refuses to run as root: as root we run it as the 'postgres' user that Debian's
# package creates, in a cluster of our own. From /, as that user may not enter the caller's
# working directory.
as_pg_owner() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

# Where the cluster (data/) and its log (postgres.log) live: $PG_DIR, unless the first start
# found that the postgres user cannot reach it (root, in a checkout inside a private home
# directory). Then they live in that user's home, in a directory keyed by this stack's path so
# that two checkouts do not collide, and $PG_HOME_RECORD names it for stop, status and clean-data.
PG_HOME_RECORD="$PG_DIR/home"

pg_home() {
  if [ -s "$PG_HOME_RECORD" ]; then cat "$PG_HOME_RECORD"; else echo "$PG_DIR"; fi
}

pg_choose_home() { # on the first start: keep the cluster here, or move it where postgres can reach
  [ "$(id -u)" = 0 ] || return 0
  [ -s "$PG_HOME_RECORD" ] || [ -f "$PG_DIR/data/PG_VERSION" ] && return 0
  runuser -u postgres -- test -x "$(dirname "$STATE")" 2>/dev/null && return 0
  local home; home="$(getent passwd postgres | cut -d: -f6)"
  [ -n "$home" ] && runuser -u postgres -- test -w "$home" 2>/dev/null \
    || die "the postgres user can reach neither $STATE nor a home of its own: clone into a directory it can enter (e.g. under /srv or /opt)"
  home="$home/fleetstate-$(printf '%s' "$STATE" | sha1sum | cut -c1-12)"
  as_pg_owner mkdir -p -m 700 "$home"
  # Who it belongs to, for whoever finds it there.
  echo "$STATE" | as_pg_owner tee "$home/stack-dir" >/dev/null
  echo "$home" >"$PG_HOME_RECORD"
  log "the postgres user cannot reach $STATE: PostgreSQL's data and log go to $home"
}

HBA_MARK="# fleetstate: password authentication"

pg_write_hba() { # every connection, TCP or the local socket, proves its password (SCRAM)
  as_pg_owner tee "$1/pg_hba.conf" >/dev/null <<EOF
$HBA_MARK (devstack/stack.sh writes this file)
local   all  all                 scram-sha-256
host    all  all  127.0.0.1/32   scram-sha-256
host    all  all  ::1/128        scram-sha-256
EOF
}

pg_superuser_password() {
  # The cluster's superuser password: drawn once, kept beside the data, its owner's only.
  local file="$PG_DIR/superuser.password"
  if [ ! -s "$file" ]; then
    (umask 077; head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$file")
  fi
  cat "$file"
}

pg_start() {
  local bin home data pglog
  bin="$(pg_bin)"
  mkdir -p "$PG_DIR"
  pg_choose_home
  home="$(pg_home)"; data="$home/data"; pglog="$home/postgres.log"
  [ "$(id -u)" = 0 ] && [ "$home" = "$PG_DIR" ] && chown postgres: "$PG_DIR" && chmod 755 "$STATE"
  local su_password; su_password="$(pg_superuser_password)"
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initialising a PostgreSQL cluster in $data"
    mkdir -p "$data"; [ "$(id -u)" = 0 ] && chown postgres: "$data"
    # Password authentication from the first start: never a moment of trust.
    local pwfile; pwfile="$(mktemp)"; printf '%s\n' "$su_password" >"$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres: "$pwfile"
    as_pg_owner "$bin/initdb" -D "$data" -U postgres --auth=scram-sha-256 --pwfile="$pwfile" \
      -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
      || { rm -f "$pwfile"; cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    rm -f "$pwfile"
    pg_write_hba "$data"
    cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 200
shared_buffers = 256MB
EOF
  fi
  if as_pg_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "PostgreSQL already running on 127.0.0.1:$PG_PORT"
  else
    # pg_ctl removes a stale postmaster.pid by itself when its process is gone.
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    touch "$pglog"; [ "$(id -u)" = 0 ] && chown postgres: "$pglog"
    as_pg_owner "$bin/pg_ctl" -D "$data" -l "$pglog" -w -t "$START_TIMEOUT" start >/dev/null \
      || { tail -n 40 "$pglog" >&2; die "PostgreSQL did not start"; }
  fi
  local psql=(env PGPASSWORD="$su_password" PGPASSFILE=/dev/null "$bin/psql" -h 127.0.0.1
    -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt)
  for _ in $(seq 1 "$START_TIMEOUT"); do "${psql[@]}" -c 'select 1' >/dev/null 2>&1 && break; sleep 1; done
  "${psql[@]}" -c 'select 1' >/dev/null || { tail -n 40 "$pglog" >&2; die "PostgreSQL does not answer"; }
  # A cluster made before password authentication trusts every local connection: give the
  # superuser its password (while trust still lets us in), then require passwords and reload.
  if ! as_pg_owner grep -q "^$HBA_MARK" "$data/pg_hba.conf"; then
    log "PostgreSQL: switching to password authentication (scram-sha-256)"
    "${psql[@]}" -c "set password_encryption = 'scram-sha-256'" \
      -c "alter role postgres password '$su_password'" >/dev/null
    pg_write_hba "$data"
    "${psql[@]}" -c 'select pg_reload_conf()' >/dev/null
  fi
  # Our role (its password is the one FLEETSTATE_DATABASE_URL carries) and database.
  if [ -z "$("${psql[@]}" -c "select 1 from pg_roles where rolname = 'fleetstate'")" ]; then
    "${psql[@]}" -c "create role fleetstate login createdb"
  fi
  "${psql[@]}" -c "set password_encryption = 'scram-sha-256'" \
    -c "alter role fleetstate password 'fleetstate'" >/dev/null
  if [ -z "$("${psql[@]}" -c "select 1 from pg_database where datname = 'fleetstate'")" ]; then
    "${psql[@]}" -c "create database fleetstate owner fleetstate"
  fi
  "$PYTHON" -m services.health wait postgres --timeout "$START_TIMEOUT" \
    --dsn "postgresql://fleetstate:fleetstate@127.0.0.1:$PG_PORT/fleetstate"
}

pg_stop() {
  local bin data
  data="$(pg_home)/data"
  [ -f "$data/PG_VERSION" ] || return 0
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if as_pg_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "stopping PostgreSQL"
    as_pg_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
}

pg_restart() { pg_stop; pg_start; }

# ---------------------------------------------------------------- commands
status() {
  local file running=0
  while IFS= read -r file; do
    if pid_alive "$file" kafka.Kafka; then
      running=1; echo "kafka$(node_label "$file"): running (pid $(cat "$file"))"
    fi
  done < <(kafka_pidfiles)
  [ "$running" = 1 ] || echo "kafka: stopped"
  local bin data; data="$(pg_home)/data"; bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -n "$bin" ] && [ -f "$data/PG_VERSION" ] && as_pg_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "postgres: running (127.0.0.1:$PG_PORT)"; else echo "postgres: stopped"; fi
}

clean_data() {
  local home; home="$(pg_home)"  # read before $PG_DIR, which holds the record, goes
  kafka_stop; pg_stop
  rm -rf "$KAFKA_DIR" "$CLUSTER_DIR" "$PG_DIR" "$home"
  log "data removed (jar cache kept)"
}

main() {
  mkdir -p "$CACHE" "$STATE"
  local cmd="${1:-}" what="${2:-all}"
  case "$cmd:$what" in
    bootstrap:*) echo "$KAFKA_BOOTSTRAP" ;;
    start:all) pg_start; kafka_start ;;
    start:kafka) kafka_start ;;
    start:postgres) pg_start ;;
    stop:all) kafka_stop; pg_stop ;;
    stop:kafka) kafka_stop ;;
    stop:postgres) pg_stop ;;
    restart:postgres) pg_restart ;;
    restart:kafka) kafka_stop; kafka_start ;;
    kill:kafka) kafka_kill "${3:-}" ;;
    status:*) status ;;
    clean-data:*) clean_data ;;
    *) echo "usage: $0 start|stop|status|clean-data|kill|restart [kafka|postgres] | kill kafka N | bootstrap" >&2; exit 2 ;;
  esac
}

# devstack/secure.sh sources this file for its functions and paths: run only when executed.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
