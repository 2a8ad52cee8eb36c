#!/usr/bin/env bash
# with-postgres.sh CMD...: runs CMD with SOUVERAIN_TEST_POSTGRES set to the
# DSN of a private, throwaway PostgreSQL cluster (initdb + pg_ctl in a
# temporary directory, owned by an unprivileged user since initdb refuses
# root, listening only on a Unix socket in that directory), then stops it
# and removes the directory, whatever CMD returns.
#
# With SOUVERAIN_PG_FAST=1 the cluster runs with synchronous_commit=off:
# commits return before the server flushes its WAL, which changes nothing
# for tests whose server does not crash (the crash test kills the client),
# and makes the commit-per-step tests several times faster. Benchmarks run
# without it.
set -euo pipefail

bindir=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$d/initdb" ]; then bindir="$d"; break; fi
done
if [ -z "$bindir" ]; then bindir=$(dirname "$(command -v initdb)"); fi

dir=$(mktemp -d /tmp/souverain-pg.XXXXXX)
chmod 755 "$dir"
as=()
if [ "$(id -u)" = 0 ]; then
  chown nobody "$dir"
  as=(runuser -u nobody --)
fi
stop() {
  "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

"${as[@]}" "$bindir/initdb" -D "$dir/data" -U souverain --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log"; exit 1; }
opts="-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=on -c max_connections=100"
if [ "${SOUVERAIN_PG_FAST:-}" = 1 ]; then opts="$opts -c synchronous_commit=off"; fi
"${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$opts" start >/dev/null \
  || { cat "$dir/server.log"; exit 1; }

export SOUVERAIN_TEST_POSTGRES="host=$dir user=souverain dbname=postgres sslmode=disable"
set +e
"$@"
rc=$?
set -e
exit $rc
