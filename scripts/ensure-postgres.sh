#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 and lets the postgres role in
# over TCP without a password, as the tests and the demo expect: starts it if it is
# installed but down, installs it from Debian's packages if it is missing. Idempotent.
# Set PGHOST/PGPORT to check another server (then nothing is started or installed).
set -euo pipefail

host=${PGHOST:-127.0.0.1}
port=${PGPORT:-5432}
say() { echo "ensure-postgres: $*" >&2; }
ready() { pg_isready -q -h "$host" -p "$port" 2>/dev/null; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if command -v pg_isready >/dev/null && ready; then
  exit 0
fi
if [ -n "${PGHOST:-}" ] && [ "$host" != 127.0.0.1 ] && [ "$host" != localhost ]; then
  say "no PostgreSQL answers at $host:$port, and it is not local: start it yourself"
  exit 1
fi

installed_now=no
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  say "PostgreSQL is not installed: installing it from Debian's packages"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
  installed_now=yes
fi

version=$(ls /etc/postgresql | sort -V | tail -n 1)
if [ "$installed_now" = yes ]; then
  # A fresh Debian cluster asks for passwords over TCP. This server exists for the
  # tests and the demo on this machine: trust loopback connections, as CI machines do.
  hba=/etc/postgresql/$version/main/pg_hba.conf
  as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
fi

if ! ready; then
  say "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
for _ in $(seq 1 60); do
  if ready; then
    if [ "$installed_now" = yes ]; then as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload; fi
    exit 0
  fi
  sleep 0.5
done
say "PostgreSQL $version did not come up on $host:$port; see /var/log/postgresql/"
exit 1
