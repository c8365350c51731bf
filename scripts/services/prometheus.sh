#!/usr/bin/env bash
# Prometheus for the PromQL metric source's integration test. Only installs (Debian package
# `prometheus`): the test runs its own unprivileged prometheus from a generated config in a temp
# folder, scraping the test's Scaleplane, so no system prometheus needs to run (one started by
# the package on :9090 is left as the package left it).
set -euo pipefail
log() { echo "prometheus: $*" >&2; }
if ! command -v prometheus >/dev/null && [ ! -x /usr/bin/prometheus ]; then
  log "installing prometheus"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null
  apt-get install -y -qq --no-install-recommends prometheus </dev/null
fi
log "$(/usr/bin/prometheus --version 2>&1 | head -1)"
