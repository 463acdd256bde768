#!/usr/bin/env bash
# Runs once, when the postgres container starts on an empty data volume (the image's
# /docker-entrypoint-initdb.d hook): creates Dagster's database beside vidmine's
# (POSTGRES_DB) and enables pgvector in vidmine's, so the application role needs no
# superuser step later.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v dagster_db="${DAGSTER_DB:-dagster}" <<'SQL'
SELECT format('CREATE DATABASE %I', :'dagster_db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dagster_db')\gexec
CREATE EXTENSION IF NOT EXISTS vector;
SQL
