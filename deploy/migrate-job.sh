#!/bin/sh
# The deployment's one-shot job, run from the `ops` image before any service starts:
#   1. `redress migrate`: every service schema up to date, as the migrator (DATABASE_URL);
#   2. deploy/postgres/grants.sql: the service roles' rights on the tables the migrations
#      created, as the same migrator (their owner);
#   3. `redress streams`: every JetStream stream and durable consumer, as ops (NATS_URL).
# Each step is safe to repeat, so the job may run on every deployment; it stops at the first
# failure, and the services, which wait for it to succeed, do not start.
# REDRESS_GRANTS_SQL: where grants.sql is (the image keeps the one matching its migrations).
set -eu
redress migrate
psql --no-psqlrc --quiet --set ON_ERROR_STOP=1 --dbname "$DATABASE_URL" \
    --file "${REDRESS_GRANTS_SQL:-/usr/share/redress/postgres/grants.sql}"
redress streams
