#!/usr/bin/env bash
# RabbitMQ on 127.0.0.1:5672 (guest/guest) with the management plugin's HTTP API on
# 127.0.0.1:15672 (read by `rabbitmq: { mode: rate }`): checks the ports, starts the broker if it
# is down, installs it from Debian packages if it is missing, enables rabbitmq_management if it is
# not enabled. Idempotent.
set -euo pipefail
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 "$2"); do port_open "$1" && return 0; sleep 1; done
  echo "rabbitmq: did not open port $1" >&2
  return 1
}
if port_open 5672; then
  echo "rabbitmq: running"
else
  if ! command -v rabbitmq-server >/dev/null; then
    echo "rabbitmq: installing"
    DEBIAN_FRONTEND=noninteractive apt-get install -y rabbitmq-server >/dev/null
  fi
  echo "rabbitmq: starting"
  rabbitmq-server -detached
  rabbitmqctl await_startup --timeout 120 >/dev/null
  wait_port 5672 60
  echo "rabbitmq: running"
fi
# `enable` on a running node starts the plugin now and records it in enabled_plugins, so a later
# start brings it back; enabling an enabled plugin is a no-op.
if ! port_open 15672; then
  echo "rabbitmq: enabling rabbitmq_management"
  rabbitmq-plugins enable rabbitmq_management >/dev/null
  wait_port 15672 60
fi
echo "rabbitmq: management API on 127.0.0.1:15672"
