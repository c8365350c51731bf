#!/usr/bin/env bash
# libfaketime for test/replicas/clock-skew.test.ts, which runs a replica whose clock is behind the
# primary's: install it from Debian packages if it is missing. Idempotent. (Here rather than in
# the test: an apt-get inside a test races any other apt-get for the dpkg lock.)
set -euo pipefail

lib=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
if [ -f "$lib" ]; then
  echo "faketime: already installed ($lib)"
  exit 0
fi

echo "faketime: installing from Debian packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends libfaketime
test -f "$lib"
