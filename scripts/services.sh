#!/usr/bin/env bash
# Makes sure every service the tests talk to is running: each scripts/services/*.sh checks one
# service, starts it if it is down, and installs it from Debian packages if it is missing.
# Idempotent; safe to run before every test run.
set -euo pipefail
cd "$(dirname "$0")/services"
for script in ./*.sh; do
  [ -e "$script" ] || continue
  echo "== services: ${script#./}"
  bash "$script"
done
