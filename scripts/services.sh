#!/usr/bin/env bash
# Makes sure every service the tests talk to is running: each scripts/services/*.sh checks one
# service, starts it if it is down, and installs it from Debian packages if it is missing.
# Idempotent; safe to run before every test run.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/services"
[ -d "$dir" ] || exit 0
for script in "$dir"/*.sh; do
  [ -e "$script" ] || continue
  echo "== services: $(basename "$script")"
  bash "$script"
done
