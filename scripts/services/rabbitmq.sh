#!/usr/bin/env bash
# RabbitMQ on 127.0.0.1:5672 (guest/guest): checks the port, starts the broker if it is down,
# installs it from Debian packages if it is missing. Idempotent.
set -euo pipefail
port_open() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if port_open; then echo "rabbitmq: running"; exit 0; fi
if ! command -v rabbitmq-server >/dev/null; then
  echo "rabbitmq: installing"
  DEBIAN_FRONTEND=noninteractive apt-get install -y rabbitmq-server >/dev/null
fi
echo "rabbitmq: starting"
rabbitmq-server -detached
rabbitmqctl await_startup --timeout 120 >/dev/null
for _ in $(seq 1 60); do port_open && { echo "rabbitmq: running"; exit 0; }; sleep 1; done
echo "rabbitmq: did not open port 5672" >&2
exit 1
