#!/bin/sh
# One-shot schema setup of Temporal's own PostgreSQL (run by the compose `temporal-schema` service in
# the temporalio/admin-tools image). Idempotent: `create` ignores an existing database, `setup-schema
# -v 0.0` skips a schema already past 0.0, `update-schema` applies only what is missing, so it also
# upgrades the schema after a Temporal version bump.
set -eu

: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
DB_PORT="${DB_PORT:-5432}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

echo "waiting for PostgreSQL at ${POSTGRES_SEEDS}:${DB_PORT}"
i=0
until nc -z "${POSTGRES_SEEDS}" "${DB_PORT}"; do
  i=$((i + 1))
  [ "$i" -ge 60 ] && { echo "PostgreSQL not reachable" >&2; exit 1; }
  sleep 1
done

sql() { temporal-sql-tool --plugin postgres12 --ep "${POSTGRES_SEEDS}" -u "${POSTGRES_USER}" -p "${DB_PORT}" "$@"; }

for db in temporal temporal_visibility; do
  case "$db" in temporal) dir="${SCHEMA_DIR}/temporal/versioned" ;; *) dir="${SCHEMA_DIR}/visibility/versioned" ;; esac
  sql --db "$db" create
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$dir"
done
echo "Temporal schema ready"
