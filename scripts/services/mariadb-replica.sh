#!/usr/bin/env bash
# MariaDB primary + GTID replica as two private mariadbd processes on spare ports, for the replicas
# tests and bench. Never touches the machine's default server (3306): --no-defaults everywhere.
#
#   mariadb-replica.sh [up]              create what is missing, start what is down (idempotent)
#   mariadb-replica.sh stop-replica PORT kill one replica at once (SIGKILL: a crash)
#   mariadb-replica.sh start-replica PORT
#   mariadb-replica.sh stop-primary      kill the primary at once (SIGKILL: a crash); start-primary
#   mariadb-replica.sh down              stop both and delete their data (other pairs under the
#                                        same SCALEPLANE_MARIADB_DIR keep theirs)
#
# Accounts (host 127.0.0.1): scaleplane/scaleplane (DML + DDL, no SUPER, so read_only binds it),
# scaleplane_admin/scaleplane (everything; tests use it to stop and start replication).
# Environment: SCALEPLANE_MARIADB_PRIMARY_PORT (3341), SCALEPLANE_MARIADB_REPLICA_PORTS ("3342"),
# SCALEPLANE_MARIADB_DIR (/var/lib/scaleplane-mariadb).
set -euo pipefail

PRIMARY_PORT=${SCALEPLANE_MARIADB_PRIMARY_PORT:-3341}
REPLICA_PORTS=${SCALEPLANE_MARIADB_REPLICA_PORTS:-3342}
BASE=${SCALEPLANE_MARIADB_DIR:-/var/lib/scaleplane-mariadb}
REPL_PASSWORD=scaleplane-repl

log() { echo "mariadb-replica: $*" >&2; }

ensure_installed() {
  if ! command -v mariadbd >/dev/null || ! command -v mariadb-install-db >/dev/null; then
    log "installing mariadb-server"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    apt-get install -y -qq mariadb-server mariadb-client </dev/null
  fi
}

dir_of() { echo "${BASE}/$1"; }
# tmp_of is the server's own temporary folder, beside its data (not inside: a folder in the datadir
# reads as a database). In the shared /tmp, a bootstrap's temporary table file went missing under
# it during a full test run ("Could not remove temporary table … error: 2", then "Unknown table
# 'mysql.tmp_user_sys'", Aborting) and the pair came up without its system tables.
tmp_of() { echo "${BASE}/$1.tmp"; }
sock_of() { echo "${BASE}/$1/mysqld.sock"; }

sql_on() { # port sql
  mariadb --no-defaults -uroot --socket="$(sock_of "$1")" -N -B -e "$2" </dev/null
}

# server_pid prints the pid in PORT's pid file while that process is a mariadbd, else nothing. A pid
# file a crashed server left names a pid the kernel may have given to another process since (this
# machine has pid_max 32768, and a test run starts thousands): `kill -0` alone took that process for
# the server (`up` then skipped starting it), and `stop_server` sent it SIGTERM, then SIGKILL.
server_pid() { # port
  local pidfile pid
  pidfile="$(dir_of "$1")/mysqld.pid"
  [ -f "${pidfile}" ] || return 0
  pid=$(cat "${pidfile}")
  if [ "$(cat "/proc/${pid}/comm" 2>/dev/null)" = mariadbd ]; then echo "${pid}"; fi
}

running() { # port
  [ -n "$(server_pid "$1")" ]
}

wait_ready() { # port
  # Up to 60 s: a fresh CI machine starts several pairs at once beside the tests, on 2 cores.
  for _ in $(seq 1 600); do
    if mariadb-admin --no-defaults -uroot --socket="$(sock_of "$1")" ping >/dev/null 2>&1 </dev/null; then
      return 0
    fi
    sleep 0.1
  done
  log "port $1 not ready after 60 s; the end of $(dir_of "$1")/error.log:"
  tail -n 20 "$(dir_of "$1")/error.log" >&2 || true
  return 1
}

init_dir() { # port -> returns 0 when it created a fresh data directory
  local dir
  dir="$(dir_of "$1")"
  if [ -d "${dir}/mysql" ]; then return 1; fi
  log "initialising ${dir}"
  # A directory without its system tables is what an interrupted initialisation left: start over.
  rm -rf "${dir}" "$(tmp_of "$1")"
  mkdir -p "${dir}" "$(tmp_of "$1")"
  chown -R mysql:mysql "${BASE}" "${dir}" "$(tmp_of "$1")"
  # Checked here: init_dir runs in an `||` list, where `set -e` does not stop the script, and a
  # failed bootstrap went on to start a server with no system tables (`Access denied` for root).
  if ! mariadb-install-db --no-defaults --user=mysql --datadir="${dir}" --tmpdir="$(tmp_of "$1")" \
    --auth-root-authentication-method=normal >/dev/null </dev/null; then
    log "mariadb-install-db failed for ${dir}; removed it, so the next up starts over"
    rm -rf "${dir}"
    exit 1
  fi
  return 0
}

start_server() { # port server-id extra-args...
  local port=$1 id=$2 dir
  shift 2
  dir="$(dir_of "${port}")"
  if running "${port}"; then return 0; fi
  log "starting mariadbd on ${port}"
  # Throwaway test data: flush lazily for write throughput.
  mkdir -p "$(tmp_of "${port}")"
  chown mysql:mysql "$(tmp_of "${port}")"
  setsid nohup mariadbd --no-defaults --user=mysql --datadir="${dir}" --tmpdir="$(tmp_of "${port}")" --port="${port}" \
    --socket="$(sock_of "${port}")" --pid-file="${dir}/mysqld.pid" --log-error="${dir}/error.log" \
    --bind-address=127.0.0.1 --skip-name-resolve --server-id="${id}" \
    --log-bin="${dir}/bin" --binlog-format=ROW --gtid-strict-mode=1 \
    --innodb-flush-log-at-trx-commit=2 --sync-binlog=0 --innodb-buffer-pool-size=64M \
    --performance-schema=OFF --max-connections=300 "$@" </dev/null >/dev/null 2>&1 &
  wait_ready "${port}"
}

up_primary() {
  local fresh=1
  init_dir "${PRIMARY_PORT}" || fresh=0
  start_server "${PRIMARY_PORT}" 1
  sql_on "${PRIMARY_PORT}" "
    CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED BY '${REPL_PASSWORD}';
    GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';
    CREATE USER IF NOT EXISTS 'scaleplane'@'127.0.0.1' IDENTIFIED BY 'scaleplane';
    GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES, SLAVE MONITOR, BINLOG MONITOR
      ON *.* TO 'scaleplane'@'127.0.0.1';
    CREATE USER IF NOT EXISTS 'scaleplane_admin'@'127.0.0.1' IDENTIFIED BY 'scaleplane';
    GRANT ALL PRIVILEGES ON *.* TO 'scaleplane_admin'@'127.0.0.1' WITH GRANT OPTION;
    CREATE DATABASE IF NOT EXISTS scaleplane_test;"
  return $((1 - fresh)) # 0 when fresh
}

up_replica() { # port primary-was-fresh
  local port=$1 fresh_primary=$2
  if [ "${fresh_primary}" = 1 ] && [ -d "$(dir_of "${port}")/mysql" ]; then
    # A replica of an older primary has GTIDs the new one never wrote.
    log "primary is new; recreating replica ${port}"
    stop_server "${port}"
    rm -rf "$(dir_of "${port}")" "$(tmp_of "${port}")"
  fi
  init_dir "${port}" || true
  start_server "${port}" "${port}" --read-only=1 --relay-log="$(dir_of "${port}")/relay"
  local following=0
  if [ -z "$(sql_on "${port}" 'SHOW SLAVE STATUS')" ]; then
    following=1
    log "replica ${port} follows ${PRIMARY_PORT}"
    sql_on "${port}" "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${PRIMARY_PORT},
      MASTER_USER='repl', MASTER_PASSWORD='${REPL_PASSWORD}', MASTER_USE_GTID=slave_pos,
      MASTER_CONNECT_RETRY=1"
  fi
  # Also restarts an SQL thread a test that died mid-way left stopped.
  sql_on "${port}" 'START SLAVE' 2>/dev/null || true
  if [ "${following}" = 1 ]; then
    # A replica that just began following has the primary's users (scaleplane, scaleplane_admin)
    # only once it replayed the binlog that created them, and tests log in as soon as `up` returns:
    # first-round.test.ts, whose pair is created on demand, was once refused as scaleplane_admin.
    local pos caught
    pos=$(sql_on "${PRIMARY_PORT}" 'SELECT @@gtid_binlog_pos')
    caught=$(sql_on "${port}" "SELECT MASTER_GTID_WAIT('${pos}', 60)")
    if [ "${caught}" != 0 ]; then
      log "replica ${port} did not replay the primary's binlog up to ${pos} within 60 s"
      return 1
    fi
  fi
}

stop_server() { # port [signal]
  local pidfile pid
  pidfile="$(dir_of "$1")/mysqld.pid"
  pid=$(server_pid "$1")
  if [ -z "${pid}" ]; then
    rm -f "${pidfile}"
    return 0
  fi
  kill "-${2:-TERM}" "${pid}" 2>/dev/null || true
  # A server still shutting down writes into its data directory: `down` deleting it then left files
  # behind (a test's own rm failed ENOTEMPTY under load). Wait up to 30 s, then kill it and wait.
  for _ in $(seq 1 300); do
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "${pid}" 2>/dev/null; then
    log "mariadbd ${pid} on $1 still running 30 s after SIG${2:-TERM}; killing it"
    kill -KILL "${pid}" 2>/dev/null || true
    while kill -0 "${pid}" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "${pidfile}"
}

cmd=${1:-up}
case "${cmd}" in
  up)
    ensure_installed
    fresh=0
    up_primary && fresh=1
    for port in ${REPLICA_PORTS}; do up_replica "${port}" "${fresh}"; done
    log "primary ${PRIMARY_PORT}, replicas ${REPLICA_PORTS}: running"
    ;;
  stop-replica)
    stop_server "${2:?port}" KILL
    ;;
  start-replica)
    start_server "${2:?port}" "$2" --read-only=1 --relay-log="$(dir_of "$2")/relay"
    sql_on "$2" 'START SLAVE' 2>/dev/null || true
    ;;
  stop-primary)
    stop_server "${PRIMARY_PORT}" KILL
    ;;
  start-primary)
    start_server "${PRIMARY_PORT}" 1
    ;;
  down)
    for port in ${REPLICA_PORTS} ${PRIMARY_PORT}; do
      stop_server "${port}"
      rm -rf "$(dir_of "${port}")" "$(tmp_of "${port}")"
    done
    rmdir "${BASE}" 2>/dev/null || true
    ;;
  *)
    echo "usage: $0 [up|stop-replica PORT|start-replica PORT|stop-primary|start-primary|down]" >&2
    exit 2
    ;;
esac
