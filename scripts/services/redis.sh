#!/usr/bin/env bash
# Redis for the cache tests: answer PING on 127.0.0.1:6379, starting it (and installing it from
# Debian packages) if needed. Idempotent.
set -euo pipefail

# The cache's Sentinel test starts its own sentinels with this binary.
if ! command -v redis-sentinel >/dev/null 2>&1; then
  echo "redis: installing redis-sentinel"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y redis-sentinel
fi

if redis-cli -p 6379 ping 2>/dev/null | grep -q PONG; then
  echo "redis: already running on 6379"
  exit 0
fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis: installing redis-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y redis-server redis-tools
fi

mkdir -p /var/lib/redis /var/log/redis
redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
  --dir /var/lib/redis --logfile /var/log/redis/ci.log

for _ in $(seq 1 50); do
  if redis-cli -p 6379 ping 2>/dev/null | grep -q PONG; then
    echo "redis: started on 6379"
    exit 0
  fi
  sleep 0.1
done
echo "redis: did not answer PING on 6379; see /var/log/redis/ci.log" >&2
exit 1
