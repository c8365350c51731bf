#!/usr/bin/env bash
# NGINX, wrk and h2load (nghttp2-client) for the balancer's NGINX-driver tests and bench/balancer.
# Only installs: every test and bench runs its own unprivileged nginx from a generated config in a
# temp folder, so no system nginx needs to run (one started by the package on :80 is left as the
# package left it).
set -euo pipefail
log() { echo "nginx: $*" >&2; }
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v h2load >/dev/null || missing+=(nghttp2-client)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null
  apt-get install -y -qq "${missing[@]}" </dev/null
fi
log "$(/usr/sbin/nginx -v 2>&1); wrk $(command -v wrk); h2load $(command -v h2load)"
