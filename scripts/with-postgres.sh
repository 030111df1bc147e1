#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster on a free loopback port, and stops and removes the
# cluster afterwards, whether the command passes, fails or is interrupted. The command sees its URL in
# WALKOUT_TEST_POSTGRES_URL.
set -euo pipefail

pg_bin=""
for dir in /usr/lib/postgresql/*/bin; do
  [ -x "$dir/initdb" ] && pg_bin="$dir"
done
if [ -z "$pg_bin" ]; then
  echo "with-postgres: no PostgreSQL server found under /usr/lib/postgresql (run scripts/setup.sh)" >&2
  exit 1
fi

data_dir="$(mktemp -d /tmp/walkout-pg.XXXXXX)"
run_as=()
if [ "$(id -u)" -eq 0 ]; then
  # initdb refuses to run as root
  chown postgres:postgres "$data_dir"
  run_as=(runuser -u postgres --)
fi

cleanup() {
  "${run_as[@]}" "$pg_bin/pg_ctl" -D "$data_dir/db" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$data_dir"
}
trap cleanup EXIT INT TERM

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"${run_as[@]}" "$pg_bin/initdb" -D "$data_dir/db" -U walkout --auth=trust -E UTF8 >/dev/null
"${run_as[@]}" "$pg_bin/pg_ctl" -D "$data_dir/db" -l "$data_dir/server.log" -w \
  -o "-h 127.0.0.1 -p $port -k $data_dir -c fsync=off -c max_connections=200" start >/dev/null
"${run_as[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U walkout walkout_test

export WALKOUT_TEST_POSTGRES_URL="postgres://walkout@127.0.0.1:${port}/walkout_test"
echo "with-postgres: PostgreSQL on 127.0.0.1:${port}"
status=0
"$@" || status=$?
exit "$status"
