#!/bin/sh
# Creates Trellis's own role and database the first time the postgres service starts (an empty
# data directory; the image runs /docker-entrypoint-initdb.d once). The role is not a superuser:
# a superuser can read the server's files and run programs on its host (COPY ... PROGRAM), so a
# leaked or misused application connection would be the database host. It owns the trellis
# database and nothing else; POSTGRES_USER stays the administrator, which Temporal's
# auto-setup uses to create its own databases.
set -eu

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v role="${TRELLIS_DB_USER:-trellis}" \
  -v password="${TRELLIS_DB_PASSWORD:-trellis}" \
  -v database="${TRELLIS_DB_NAME:-trellis}" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE DATABASE :"database" OWNER :"role";
-- Other roles have no business in Trellis's database.
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
SQL
