#!/usr/bin/env bash
# The development stack: Apache Kafka (KRaft, one node) and PostgreSQL on 127.0.0.1.
# Usage: devstack/stack.sh start|stop|status|clean-data|kill|restart [kafka|postgres]
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
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Absolute: PostgreSQL's tools run from / (see as_pg_owner) and the path keys its directory.
STATE="$(realpath -m "${FLEETSTATE_STACK_DIR:-$ROOT/.devstack}")"
CACHE="$ROOT/.devstack/cache"  # jars are shared by every stack of this checkout
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/devstack/pom.xml")"
KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"
KAFKA_DIR="$STATE/kafka"
KAFKA_PORT="${FLEETSTATE_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${FLEETSTATE_KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
PG_PORT="${FLEETSTATE_PG_PORT:-5433}"
PG_DIR="$STATE/postgres"
START_TIMEOUT="${FLEETSTATE_START_TIMEOUT:-120}"

log() { printf '\033[1m[devstack]\033[0m %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

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

# The JVM command line that runs a Kafka main class on the resolved classpath.
KAFKA_JAVA=(java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
  -Dkafka.logs.dir="$KAFKA_DIR/logs" -Dlog4j.configuration="file:$ROOT/devstack/log4j.properties"
  -cp "$KAFKA_LIBS/*")

kafka_start() {
  kafka_resolve
  if pid_alive "$KAFKA_DIR/kafka.pid" kafka.Kafka; then
    log "Kafka already running (pid $(cat "$KAFKA_DIR/kafka.pid"))"
  else
    mkdir -p "$KAFKA_DIR/logs"
    if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
      log "formatting Kafka storage (KRaft)"
      sed -e "s/127.0.0.1:9092/127.0.0.1:$KAFKA_PORT/g" -e "s/127.0.0.1:9093/127.0.0.1:$CONTROLLER_PORT/g" \
        "$ROOT/devstack/kafka.properties" >"$KAFKA_DIR/server.properties"
      echo "log.dirs=$KAFKA_DIR/data" >>"$KAFKA_DIR/server.properties"
      local cluster_id
      cluster_id="$("${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
      "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_DIR/server.properties" \
        >"$KAFKA_DIR/logs/format.log" 2>&1 || { cat "$KAFKA_DIR/logs/format.log" >&2; die "Kafka storage format failed"; }
    fi
    log "starting Kafka $KAFKA_VERSION on $KAFKA_BOOTSTRAP"
    nohup "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_DIR/server.properties" \
      >"$KAFKA_DIR/logs/stdout.log" 2>&1 </dev/null &
    echo $! >"$KAFKA_DIR/kafka.pid"
  fi
  # Ready means a metadata request answers, not that the JVM started.
  if ! "$PYTHON" -m services.health wait kafka --bootstrap "$KAFKA_BOOTSTRAP" --timeout "$START_TIMEOUT"; then
    tail -n 40 "$KAFKA_DIR/logs/server.log" "$KAFKA_DIR/logs/stdout.log" >&2 2>/dev/null || true
    die "Kafka did not become ready within ${START_TIMEOUT}s"
  fi
}

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

kafka_stop() { stop_pidfile "$KAFKA_DIR/kafka.pid" kafka.Kafka Kafka; }

kafka_kill() { # SIGKILL, as a crash would: no controlled shutdown, nothing flushed
  if pid_alive "$KAFKA_DIR/kafka.pid" kafka.Kafka; then
    local pid; pid="$(cat "$KAFKA_DIR/kafka.pid")"
    log "killing Kafka (pid $pid)"
    kill -9 "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$KAFKA_DIR/kafka.pid"
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
  if pid_alive "$KAFKA_DIR/kafka.pid" kafka.Kafka; then echo "kafka: running (pid $(cat "$KAFKA_DIR/kafka.pid"))"; else echo "kafka: stopped"; fi
  local bin data; data="$(pg_home)/data"; bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -n "$bin" ] && [ -f "$data/PG_VERSION" ] && as_pg_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "postgres: running (127.0.0.1:$PG_PORT)"; else echo "postgres: stopped"; fi
}

clean_data() {
  local home; home="$(pg_home)"  # read before $PG_DIR, which holds the record, goes
  kafka_stop; pg_stop
  rm -rf "$KAFKA_DIR" "$PG_DIR" "$home"
  log "data removed (jar cache kept)"
}

main() {
  mkdir -p "$CACHE" "$STATE"
  local cmd="${1:-}" what="${2:-all}"
  case "$cmd:$what" in
    start:all) pg_start; kafka_start ;;
    start:kafka) kafka_start ;;
    start:postgres) pg_start ;;
    stop:all) kafka_stop; pg_stop ;;
    stop:kafka) kafka_stop ;;
    stop:postgres) pg_stop ;;
    restart:postgres) pg_restart ;;
    restart:kafka) kafka_stop; kafka_start ;;
    kill:kafka) kafka_kill ;;
    status:*) status ;;
    clean-data:*) clean_data ;;
    *) echo "usage: $0 start|stop|status|clean-data|kill|restart [kafka|postgres]" >&2; exit 2 ;;
  esac
}

# devstack/secure.sh sources this file for its functions and paths: run only when executed.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
