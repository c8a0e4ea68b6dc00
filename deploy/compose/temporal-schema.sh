#!/bin/sh
# Creates or upgrades Temporal's two databases on the compose Postgres (the job auto-setup used
# to do inside the server image, which Temporal deprecated). Idempotent: run on every `up`.
set -eu
SQL="temporal-sql-tool --plugin postgres12 --ep ${POSTGRES_SEEDS} -p ${DB_PORT} -u ${POSTGRES_USER} --pw ${POSTGRES_PWD}"
SCHEMA=/etc/temporal/schema/postgresql/v12

until nc -z "${POSTGRES_SEEDS}" "${DB_PORT}"; do echo 'waiting for postgres'; sleep 1; done
for db in temporal temporal_visibility; do
  $SQL --db "$db" create || echo "database $db exists"
done
$SQL --db temporal setup-schema -v 0.0
$SQL --db temporal update-schema -d "$SCHEMA/temporal/versioned"
$SQL --db temporal_visibility setup-schema -v 0.0
$SQL --db temporal_visibility update-schema -d "$SCHEMA/visibility/versioned"
echo 'temporal schema up to date'
