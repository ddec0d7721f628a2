#!/usr/bin/env bash
# Makes sure Debian's pgbouncer binary is installed, for the tests that run the
# commands through PgBouncer in transaction pooling mode (internal/pgtest.Bouncer
# starts its own, on a free loopback port; the packaged service is not used).
# Idempotent; without it those tests are skipped, saying so.
set -euo pipefail

say() { echo "ensure-pgbouncer: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  say "no pgbouncer, and no apt-get to install it: the PgBouncer tests will be skipped"
  exit 0
fi
say "pgbouncer is not installed: installing it from Debian's packages"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbouncer >/dev/null
# The package's own service is not wanted: the tests start theirs.
as_root systemctl disable --now pgbouncer >/dev/null 2>&1 || true
