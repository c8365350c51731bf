#!/usr/bin/env bash
# bench/balancer: installs nginx, wrk and h2load if missing, then runs run.ts (see its header for options).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bash "$root/scripts/services/nginx.sh"
cd "$root"
exec node --import tsx bench/balancer/run.ts "$@"
