#!/usr/bin/env bash
# Chromium for the dashboard's browser tests (playwright-core drives /usr/bin/chromium headless):
# install it from Debian packages if it is missing. Idempotent.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium: already installed ($(/usr/bin/chromium --version 2>/dev/null || echo unknown version))"
  exit 0
fi

echo "chromium: installing from Debian packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version || true
