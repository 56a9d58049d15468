#!/usr/bin/env bash
# The locked-down bus: one Kafka node (KRaft) that speaks TLS only, authenticates every client
# with SASL/SCRAM and authorizes it with ACLs, one principal per fleetstate service.
# Usage: devstack/secure.sh start|stop|status|clean-data
#
#   FLEETSTATE_STACK_DIR              its directory (default .devstack/secure)
#   FLEETSTATE_KAFKA_PORT             the client listener, SASL_SSL (default 9192)
#   FLEETSTATE_KAFKA_CONTROLLER_PORT  the KRaft controller listener, SASL_SSL (default 9193)
#   FLEETSTATE_TOPIC_PREFIX, FLEETSTATE_*_TOPIC, FLEETSTATE_PARTITIONS
#                                     the topics it creates and the ACLs name (services/acls.py)
#
# After `start`, $FLEETSTATE_STACK_DIR/principals/<name>.env holds the FLEETSTATE_KAFKA_*
# variables of each principal (its password in <name>.password beside it, both its owner's
# only): `set -a; . .devstack/secure/principals/processor.env; set +a; fleetstate processor`.
# The plain dev stack (devstack/stack.sh, `make run`, `make test`) is not touched.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export FLEETSTATE_STACK_DIR="${FLEETSTATE_STACK_DIR:-$ROOT/.devstack/secure}"
export FLEETSTATE_KAFKA_PORT="${FLEETSTATE_KAFKA_PORT:-9192}"
export FLEETSTATE_KAFKA_CONTROLLER_PORT="${FLEETSTATE_KAFKA_CONTROLLER_PORT:-9193}"
# stack.sh's paths (STATE, KAFKA_DIR, KAFKA_LIBS, KAFKA_JAVA, ...) and functions (kafka_resolve,
# pid_alive, stop_pidfile, log, die); its main runs only when it is executed, not sourced.
# shellcheck source=devstack/stack.sh
source "$ROOT/devstack/stack.sh"

TLS_DIR="$STATE/tls"
PRINCIPALS_DIR="$STATE/principals"
# The broker's own principal: its connections to its controller listener and to its own
# client listener (transaction markers, inter-broker requests). A super user, like admin.
BROKER_USER=broker
SUPER_USERS=(admin "$BROKER_USER")

password_of() { cat "$PRINCIPALS_DIR/$1.password"; }

new_password() { # new_password NAME: drawn once, kept beside the data, its owner's only
  (umask 077; head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$PRINCIPALS_DIR/$1.password")
}

write_env() { # write_env NAME: the variables that make a fleetstate process this principal
  (umask 077; cat >"$PRINCIPALS_DIR/$1.env" <<EOF
FLEETSTATE_KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP
FLEETSTATE_KAFKA_SECURITY_PROTOCOL=SASL_SSL
FLEETSTATE_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
FLEETSTATE_KAFKA_USERNAME=$1
FLEETSTATE_KAFKA_PASSWORD_FILE=$PRINCIPALS_DIR/$1.password
FLEETSTATE_KAFKA_CA_FILE=$TLS_DIR/ca.pem
EOF
  )
}

as_admin() { # as_admin COMMAND...: run a fleetstate tool as the super user
  ( set -a; . "$PRINCIPALS_DIR/admin.env"; set +a; "$@" )
}

# The services' principals: the names services/acls.py grants to (read by secure_start).
SERVICES=()

write_server_properties() {
  local password; password="$(password_of "$BROKER_USER")"
  local super_users; super_users="$(printf 'User:%s;' "${SUPER_USERS[@]}")"
  (umask 077
  # The dev stack's settings (replication, retention, no auto-created topics), less its
  # PLAINTEXT listeners.
  grep -v -E '^(listeners|advertised\.listeners|listener\.security\.protocol\.map|controller\.listener\.names|inter\.broker\.listener\.name|controller\.quorum\.voters)=' \
    "$ROOT/devstack/kafka.properties" | grep -v '^#'
  cat <<EOF

# ---- the locked-down bus (devstack/secure.sh) ----
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=CLIENT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=CLIENT://127.0.0.1:$KAFKA_PORT
listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:SASL_SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=CLIENT

# TLS on both listeners: the broker's key and chain, and the CA it trusts as a client of its
# own listeners. Hostnames are checked.
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
ssl.endpoint.identification.algorithm=https
ssl.client.auth=none

# Clients: SCRAM-SHA-512, users and their salted credentials in the cluster metadata.
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$BROKER_USER" password="$password";

# The controller listener: KRaft cannot read SCRAM credentials before it has the metadata
# they live in, so it takes PLAIN over TLS with one static user, the broker itself.
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$BROKER_USER" password="$password" user_$BROKER_USER="$password";

# Nothing is allowed that an ACL does not allow (services/acls.py); super users bypass ACLs.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=${super_users%;}
log.dirs=$KAFKA_DIR/data
EOF
  ) >"$KAFKA_DIR/server.properties"
}

write_admin_properties() { # the super user's client settings for Kafka's Java tools
  (umask 077; cat >"$STATE/admin.properties" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(password_of admin)";
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
EOF
  )
}

format_storage() { # a new cluster whose metadata already holds every principal's credential
  local cluster_id scram=() name
  for name in "${SUPER_USERS[@]}" "${SERVICES[@]}"; do
    new_password "$name"
    scram+=(--add-scram "SCRAM-SHA-512=[name=$name,password=$(password_of "$name")]")
  done
  write_server_properties
  log "formatting Kafka storage (KRaft) with $((${#scram[@]} / 2)) SCRAM users"
  cluster_id="$("${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
  "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
    -c "$KAFKA_DIR/server.properties" "${scram[@]}" >"$KAFKA_DIR/logs/format.log" 2>&1 \
    || { cat "$KAFKA_DIR/logs/format.log" >&2; die "Kafka storage format failed"; }
}

add_missing_users() { # principals added to services/acls.py after the storage was formatted
  local name
  for name in "${SERVICES[@]}"; do
    [ -s "$PRINCIPALS_DIR/$name.password" ] && continue
    new_password "$name"
    log "creating SCRAM user $name"
    "${KAFKA_JAVA[@]}" kafka.admin.ConfigCommand --bootstrap-server "$KAFKA_BOOTSTRAP" \
      --command-config "$STATE/admin.properties" --alter --entity-type users --entity-name "$name" \
      --add-config "SCRAM-SHA-512=[password=$(password_of "$name")]" >/dev/null \
      || die "could not create the SCRAM user $name"
  done
}

secure_start() {
  kafka_resolve
  mapfile -t SERVICES < <("$PYTHON" -m services.acls principals)
  [ ${#SERVICES[@]} -gt 0 ] || die "services/acls.py names no principal"
  mkdir -p "$KAFKA_DIR/logs" "$PRINCIPALS_DIR"
  chmod 700 "$PRINCIPALS_DIR"
  "$PYTHON" "$ROOT/devstack/certs.py" "$TLS_DIR"
  if pid_alive "$KAFKA_DIR/kafka.pid" kafka.Kafka; then
    log "secure Kafka already running (pid $(cat "$KAFKA_DIR/kafka.pid"))"
  else
    if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
      format_storage
    else
      write_server_properties  # the ports may have changed; the credentials have not
    fi
    log "starting secure Kafka $KAFKA_VERSION on $KAFKA_BOOTSTRAP (SASL_SSL)"
    nohup "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_DIR/server.properties" \
      >"$KAFKA_DIR/logs/stdout.log" 2>&1 </dev/null &
    echo $! >"$KAFKA_DIR/kafka.pid"
  fi
  local name
  write_env admin
  write_admin_properties
  # Ready means the admin principal is authenticated over TLS and a metadata request answers.
  if ! as_admin "$PYTHON" -m services.health wait kafka --bootstrap "$KAFKA_BOOTSTRAP" \
    --timeout "$START_TIMEOUT"; then
    tail -n 40 "$KAFKA_DIR/logs/server.log" "$KAFKA_DIR/logs/stdout.log" >&2 2>/dev/null || true
    die "secure Kafka did not become ready within ${START_TIMEOUT}s"
  fi
  add_missing_users
  for name in "${SERVICES[@]}"; do write_env "$name"; done
  # The topics and the ACLs of services/acls.py, as the super user (idempotent).
  as_admin "$PYTHON" -m services.acls apply ${FLEETSTATE_TOPIC_PREFIX:+--topic-prefix "$FLEETSTATE_TOPIC_PREFIX"} >&2
  log "principals: $PRINCIPALS_DIR/{admin,$(IFS=,; echo "${SERVICES[*]}")}.env"
}

secure_status() {
  if pid_alive "$KAFKA_DIR/kafka.pid" kafka.Kafka; then
    echo "secure kafka: running on $KAFKA_BOOTSTRAP (pid $(cat "$KAFKA_DIR/kafka.pid"))"
  else
    echo "secure kafka: stopped"
  fi
}

secure_main() {
  mkdir -p "$CACHE" "$STATE"
  case "${1:-}" in
    start) secure_start ;;
    stop) kafka_stop ;;
    status) secure_status ;;
    clean-data)
      kafka_stop
      rm -rf "$KAFKA_DIR" "$PRINCIPALS_DIR" "$TLS_DIR" "$STATE/admin.properties"
      log "secure stack data removed (jar cache kept)" ;;
    *) echo "usage: $0 start|stop|status|clean-data" >&2; exit 2 ;;
  esac
}

secure_main "$@"
