#!/usr/bin/env bash
# Makes the PostgreSQL the API tests need exist: a running Debian cluster listening on
# 127.0.0.1:5432 and a role lbaas/lbaas allowed to create databases (each test session
# creates and drops its own lbaas_test_<random> database).
# Run as root by `make test`, before pytest. Idempotent, never asks anything on stdin, and
# quick when everything is already in place. Prints one line saying what it did.
set -euo pipefail

HOST=127.0.0.1
PORT=5432
ROLE=lbaas
PASSWORD=lbaas

die() { echo "ensure-postgres: $*" >&2; exit 1; }

# Quick path: the role can already log in over TCP and create databases.
role_ready() {
  local out
  out=$(PGPASSWORD=$PASSWORD PGCONNECT_TIMEOUT=3 psql -X -q -w -h "$HOST" -p "$PORT" \
        -U "$ROLE" -d postgres -tAc \
        "SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user" 2>/dev/null) || return 1
  [ "$out" = "t" ]
}

command -v pg_lsclusters >/dev/null || die "PostgreSQL is not installed (apt-get install postgresql)"

if command -v psql >/dev/null && role_ready; then
  echo "ensure-postgres: already running on $HOST:$PORT with role $ROLE, nothing to do"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root to start the cluster or create role $ROLE"

# As the postgres user, from a directory it can read (psql warns about the cwd otherwise).
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

actions=()

# The cluster: the one on port 5432 if any, else the first one, else a new one.
cluster=$(pg_lsclusters -h | awk -v p="$PORT" '$3 == p {print $1 " " $2; exit}')
if [ -z "$cluster" ]; then
  cluster=$(pg_lsclusters -h | awk 'NR == 1 {print $1 " " $2}')
fi
if [ -z "$cluster" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  [ -n "$version" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
  pg_createcluster --port "$PORT" "$version" main >/dev/null
  cluster="$version main"
  actions+=("created cluster $version/main")
fi
read -r version name <<<"$cluster"

cluster_port=$(pg_lsclusters -h | awk -v v="$version" -v n="$name" '$1 == v && $2 == n {print $3}')
[ "$cluster_port" = "$PORT" ] || \
  die "cluster $version/$name is configured for port $cluster_port, not $PORT; set port = $PORT in /etc/postgresql/$version/$name/postgresql.conf"

status=$(pg_lsclusters -h | awk -v v="$version" -v n="$name" '$1 == v && $2 == n {print $4}')
if [ "$status" != "online" ]; then
  # Something else on the port would make the start fail with a confusing log line.
  holder=$(ss -H -ltnp "sport = :$PORT" 2>/dev/null | head -n 1)
  if [ -n "$holder" ]; then
    die "port $PORT is taken by something that is not cluster $version/$name: $holder"
  fi
  # No systemd here: the socket directory tmpfiles would make may be missing.
  install -d -o postgres -g postgres -m 2775 /var/run/postgresql
  pg_ctlcluster "$version" "$name" start || \
    die "pg_ctlcluster $version $name start failed; see /var/log/postgresql/postgresql-$version-$name.log"
  actions+=("started cluster $version/$name")
fi

for _ in $(seq 1 60); do
  pg_isready -q -h "$HOST" -p "$PORT" && break
  sleep 0.5
done
pg_isready -q -h "$HOST" -p "$PORT" || \
  die "cluster $version/$name does not answer on $HOST:$PORT (listen_addresses?)"

exists=$(as_postgres psql -X -q -p "$PORT" -d postgres -tAc \
         "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")
if [ "$exists" = 1 ] && role_ready; then
  :  # the cluster was only down
elif [ "$exists" = 1 ]; then
  as_postgres psql -X -q -p "$PORT" -d postgres -v ON_ERROR_STOP=1 -c \
    "ALTER ROLE $ROLE WITH LOGIN CREATEDB PASSWORD '$PASSWORD'" >/dev/null
  actions+=("reset role $ROLE")
else
  as_postgres psql -X -q -p "$PORT" -d postgres -v ON_ERROR_STOP=1 -c \
    "CREATE ROLE $ROLE WITH LOGIN CREATEDB PASSWORD '$PASSWORD'" >/dev/null
  actions+=("created role $ROLE")
fi

role_ready || die "role $ROLE still cannot log in on $HOST:$PORT with its password (pg_hba.conf?)"

joined=$(IFS=,; echo "${actions[*]}")
echo "ensure-postgres: ${joined//,/, }; ready on $HOST:$PORT"
