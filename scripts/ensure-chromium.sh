#!/usr/bin/env bash
# Makes sure Debian's chromium is installed, for the console's browser tests
# (console/browsertest drives it headless through the DevTools protocol). The browser
# comes from Debian's packages and nowhere else. Idempotent; without it those tests
# are skipped, saying so. CHROMIUM names another binary (then nothing is installed).
set -euo pipefail
# Another apt-get (a parallel make test installing pgbouncer) may hold dpkg's lock:
# wait for it rather than fail.

say() { echo "ensure-chromium: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ -n "${CHROMIUM:-}" ]; then
  if [ -x "$CHROMIUM" ] || command -v "$CHROMIUM" >/dev/null; then exit 0; fi
  say "CHROMIUM=$CHROMIUM is not an executable"
  exit 1
fi
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  say "no chromium, and no apt-get to install it: the console's browser tests will be skipped"
  exit 0
fi
say "chromium is not installed: installing it from Debian's packages"
as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null
