#!/usr/bin/env bash
# PostgreSQL primary + streaming replicas on spare ports, for the replicas tests and bench.
# Never touches the machine's default cluster (5432): every cluster here is named sp_*.
#
#   postgres-replica.sh [up]              create what is missing, start what is down (idempotent)
#   postgres-replica.sh stop-replica PORT stop one replica at once (-m immediate: a crash)
#   postgres-replica.sh start-replica PORT
#   postgres-replica.sh stop-primary      stop the primary at once (-m immediate: a crash); start-primary
#   postgres-replica.sh freeze-replica PORT  SIGSTOP the replica's postmaster and backends (a hung server:
#                                           the port accepts, nothing answers); thaw-replica PORT: SIGCONT
#   postgres-replica.sh down              drop every sp_* cluster
#
# Environment: SCALEPLANE_PG_VERSION (15), SCALEPLANE_PG_PRIMARY_PORT (5441),
# SCALEPLANE_PG_REPLICA_PORTS (space-separated, "5442").
set -euo pipefail

VERSION=${SCALEPLANE_PG_VERSION:-15}
PRIMARY_PORT=${SCALEPLANE_PG_PRIMARY_PORT:-5441}
REPLICA_PORTS=${SCALEPLANE_PG_REPLICA_PORTS:-5442}
PRIMARY=sp_primary_${PRIMARY_PORT}

log() { echo "postgres-replica: $*" >&2; }

ensure_installed() {
  if ! command -v pg_createcluster >/dev/null || [ ! -x "/usr/lib/postgresql/${VERSION}/bin/postgres" ]; then
    log "installing postgresql-${VERSION}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    apt-get install -y -qq "postgresql-${VERSION}" </dev/null
  fi
}

cluster_exists() { [ -d "/etc/postgresql/${VERSION}/$1" ]; }
cluster_online() { pg_lsclusters -h "${VERSION}" "$1" 2>/dev/null | grep -q online; }

psql_on() { # port sql
  su postgres -c "psql -X -q -At -h 127.0.0.1 -p $1 -d postgres -c \"$2\"" </dev/null
}

wait_ready() {
  for _ in $(seq 1 100); do
    if pg_isready -q -h 127.0.0.1 -p "$1" </dev/null; then return 0; fi
    sleep 0.1
  done
  log "port $1 not ready"
  return 1
}

# Debian asks for a password on 127.0.0.1; these throwaway clusters trust loopback instead.
configure() { # cluster port
  local etc="/etc/postgresql/${VERSION}/$1"
  sed -i -E 's#^(host[[:space:]]+(all|replication)[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+)[^[:space:]]+#\1trust#' \
    "${etc}/pg_hba.conf"
  cat >"${etc}/conf.d/scaleplane.conf" <<EOF
listen_addresses = '127.0.0.1'
max_connections = 200
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
hot_standby_feedback = on
# Throwaway test data: durability is not the point, write throughput is.
fsync = off
EOF
}

start_cluster() { # cluster port
  if ! cluster_online "$1"; then
    log "starting $1"
    pg_ctlcluster --skip-systemctl-redirect "${VERSION}" "$1" start </dev/null
  fi
  wait_ready "$2"
}

up_primary() {
  if ! cluster_exists "${PRIMARY}"; then
    log "creating ${PRIMARY} on ${PRIMARY_PORT}"
    pg_createcluster "${VERSION}" "${PRIMARY}" -p "${PRIMARY_PORT}" </dev/null >/dev/null
    configure "${PRIMARY}" "${PRIMARY_PORT}"
  fi
  start_cluster "${PRIMARY}" "${PRIMARY_PORT}"
}

signal_replica() { # signal port: the postmaster and its children
  local pidfile="/var/lib/postgresql/${VERSION}/sp_replica_$2/postmaster.pid" main
  [ -f "${pidfile}" ] || return 0
  main=$(head -1 "${pidfile}")
  # A pid file a crashed postmaster left may name a pid another process has now (pid_max is 32768
  # here): signal only a postgres, never whatever holds the number.
  [ "$(cat "/proc/${main}/comm" 2>/dev/null)" = postgres ] || return 0
  # The postmaster first: stopped, it forks no backend after the list below is taken (one forked
  # between listing and signalling would escape a freeze and answer the probe while the rest hang).
  kill -"$1" "${main}" 2>/dev/null || true
  # shellcheck disable=SC2046 # one pid per word
  kill -"$1" $(ps -o pid= --ppid "${main}") 2>/dev/null || true
}

up_replica() { # port
  local port=$1 name=sp_replica_$1 slot=sp_replica_$1
  local data="/var/lib/postgresql/${VERSION}/${name}"
  # A test that died mid-way may have left the replica frozen.
  signal_replica CONT "${port}"
  if cluster_exists "${name}" && [ ! -f "${data}/standby.signal" ]; then
    log "${name} is not a standby; recreating"
    pg_dropcluster --stop "${VERSION}" "${name}" </dev/null
  fi
  if ! cluster_exists "${name}"; then
    log "creating ${name} on ${port} from ${PRIMARY}"
    pg_createcluster "${VERSION}" "${name}" -p "${port}" </dev/null >/dev/null
    configure "${name}" "${port}"
    rm -rf "${data:?}"/*
    psql_on "${PRIMARY_PORT}" "SELECT pg_drop_replication_slot('${slot}') FROM pg_replication_slots WHERE slot_name = '${slot}'" >/dev/null
    # A slot keeps the WAL a stopped replica still needs, so a killed replica catches up on restart.
    su postgres -c "pg_basebackup -h 127.0.0.1 -p ${PRIMARY_PORT} -U postgres -D ${data} -R -X stream -C -S ${slot}" </dev/null
  fi
  start_cluster "${name}" "${port}"
  # A test that died mid-way may have left replay paused.
  psql_on "${port}" "SELECT pg_wal_replay_resume()" >/dev/null
}

cmd=${1:-up}
case "${cmd}" in
  up)
    ensure_installed
    up_primary
    for port in ${REPLICA_PORTS}; do up_replica "${port}"; done
    log "primary ${PRIMARY_PORT}, replicas ${REPLICA_PORTS}: online"
    ;;
  stop-replica)
    pg_ctlcluster --skip-systemctl-redirect "${VERSION}" "sp_replica_${2:?port}" stop -m immediate </dev/null
    ;;
  start-replica)
    start_cluster "sp_replica_${2:?port}" "$2"
    ;;
  stop-primary)
    pg_ctlcluster --skip-systemctl-redirect "${VERSION}" "${PRIMARY}" stop -m immediate </dev/null
    ;;
  start-primary)
    start_cluster "${PRIMARY}" "${PRIMARY_PORT}"
    ;;
  freeze-replica) signal_replica STOP "${2:?port}" ;;
  thaw-replica) signal_replica CONT "${2:?port}" ;;
  down)
    for name in $(pg_lsclusters -h "${VERSION}" 2>/dev/null | awk '{print $2}' | grep '^sp_' || true); do
      pg_dropcluster --stop "${VERSION}" "${name}" </dev/null
    done
    ;;
  *)
    echo "usage: $0 [up|stop-replica PORT|start-replica PORT|stop-primary|start-primary|freeze-replica PORT|thaw-replica PORT|down]" >&2
    exit 2
    ;;
esac
