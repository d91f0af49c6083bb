#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suites (`./x test` calls this).
#   tests/postgres/cluster.sh start [--durable]
#                                     prints the URL for EXLOGARE_TEST_POSTGRES, then the
#                                     cluster's folder on a second line
#   tests/postgres/cluster.sh stop DIR
# Installs Debian's postgresql when no server binaries are found. The cluster runs under a
# non-root user (PostgreSQL refuses root), listens only on a unix socket in its own folder,
# and skips fsync (its data is thrown away at the end of the run) unless --durable asks for
# PostgreSQL's defaults, as a benchmark against SQLite's fsync per commit needs.
set -euo pipefail

find_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "${1:-}" in
  start)
    bin="$(find_bin)"
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
      echo "PostgreSQL server not found: installing Debian's postgresql" >&2
      if [ "$(id -u)" = 0 ]; then
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
      elif command -v sudo >/dev/null; then
        sudo apt-get update -qq >&2 && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
      else
        echo "cannot install postgresql (not root, no sudo): install it, or set EXLOGARE_TEST_POSTGRES" >&2
        exit 1
      fi
      bin="$(find_bin)"
    fi
    dir="$(mktemp -d /tmp/exlogare-pg.XXXXXX)"
    chmod 755 "$dir"
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
      chown postgres "$dir"
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U exlogare -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    fast="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [ "${2:-}" = --durable ] && fast=""
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses='' -c unix_socket_directories='$dir' $fast -c max_connections=400" \
      start >&2 || { cat "$dir/server.log" >&2; exit 1; }
    echo "host=$dir user=exlogare dbname=postgres"
    echo "$dir"
    ;;
  stop)
    dir="${2:?the folder printed by start}"
    bin="$(find_bin)"
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
