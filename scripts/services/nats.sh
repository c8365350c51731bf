#!/usr/bin/env bash
# NATS with JetStream on 127.0.0.1:4222: checks the port, starts the server if it is down,
# installs it from Debian packages if it is missing. Idempotent.
set -euo pipefail
port_open() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }
if port_open; then echo "nats: running"; exit 0; fi
if ! [ -x /usr/sbin/nats-server ]; then
  echo "nats: installing"
  DEBIAN_FRONTEND=noninteractive apt-get install -y nats-server >/dev/null
fi
echo "nats: starting"
mkdir -p /var/lib/nats-server
start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
  -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
for _ in $(seq 1 30); do port_open && { echo "nats: running"; exit 0; }; sleep 1; done
echo "nats: did not open port 4222" >&2
exit 1
