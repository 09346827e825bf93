#!/usr/bin/env bash
# Make sure the running PostgreSQL offers the pgvector extension (`vector`, knowledge-base
# embeddings). Already there: one query and out. Missing on a local Debian server: build it from
# Debian's own source package of pgvector (Debian 12 ships no binary for PostgreSQL 15) against the
# running server's major version and install it; anything else: one line saying what to do.
set -euo pipefail
PG_HOST=${PG_HOST:-127.0.0.1}
PG_USER=${PG_USER:-postgres}
VERSION=0.8.0
URL="http://deb.debian.org/debian/pool/main/p/pgvector/pgvector_${VERSION}.orig.tar.gz"
SHA256=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/wa-assistant

sql() { psql -X -w -h "$PG_HOST" -U "$PG_USER" -d postgres -Atqc "$1"; }

fail() {
  echo "error: PostgreSQL on $PG_HOST has no pgvector extension ('vector'): $1. Install it" \
    "(Debian/Ubuntu with the PGDG repository: apt-get install postgresql-<major>-pgvector;" \
    "Docker: image pgvector/pgvector:pg15, as deploy/docker-compose.yml uses)" >&2
  exit 1
}

if ! command -v psql >/dev/null 2>&1; then
  # no client to ask with: the migration that needs the extension says so if it is missing
  echo "warning: psql not found, cannot check for pgvector" >&2
  exit 0
fi
available=$(sql "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'") ||
  { echo "warning: could not ask PostgreSQL whether pgvector is installed" >&2; exit 0; }
[ "$available" = 1 ] && exit 0

major=$(( $(sql "SHOW server_version_num") / 10000 ))
[ -x "/usr/lib/postgresql/$major/bin/postgres" ] ||
  fail "the server is not a Debian PostgreSQL $major on this machine, so it cannot be built here"
[ "$(id -u)" = 0 ] || fail "building it into /usr/lib/postgresql/$major needs root (rerun as root)"

echo "installing pgvector $VERSION for PostgreSQL $major" >&2
pg_config=/usr/lib/postgresql/$major/bin/pg_config
[ -x "$pg_config" ] && [ -d "/usr/include/postgresql/$major/server" ] || {
  log=$(mktemp)
  # apt's progress goes to a file, shown only if the install fails
  { apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-server-dev-$major" make gcc
  } >"$log" 2>&1 || { cat "$log" >&2; fail "apt-get install postgresql-server-dev-$major failed"; }
  rm -f "$log"
}

mkdir -p "$CACHE"
tarball="$CACHE/pgvector_${VERSION}.orig.tar.gz"
if ! echo "$SHA256  $tarball" | sha256sum -c --status 2>/dev/null; then
  curl -fsSL --retry 3 -o "$tarball.part" "$URL" || fail "downloading $URL failed"
  mv "$tarball.part" "$tarball"
fi
echo "$SHA256  $tarball" | sha256sum -c --status || {
  rm -f "$tarball"
  fail "$URL does not have the expected sha256"
}

build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
tar -xzf "$tarball" -C "$build"
# OPTFLAGS="": no -march=native, like Debian's own build (the binary may move to another CPU)
make -s -C "$build/pgvector-$VERSION" PG_CONFIG="$pg_config" OPTFLAGS="" >&2 &&
  make -s -C "$build/pgvector-$VERSION" PG_CONFIG="$pg_config" OPTFLAGS="" install >&2 ||
  fail "building pgvector $VERSION failed"

[ "$(sql "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")" = 1 ] ||
  fail "installed into $("$pg_config" --sharedir)/extension but the server does not list it"
echo "pgvector $VERSION installed" >&2
