#!/bin/sh
# Sets the passwords of the roles 10-roles.sql created, from the environment of the postgres
# container (or, for each, a file named by the same variable with _FILE appended, such as a
# mounted secret). The server stores them as scram-sha-256 verifiers (postgresql.conf); the
# statements are kept out of the server log. Runs once, on an empty data directory, like every
# script in /docker-entrypoint-initdb.d. To change a password later:
#   ALTER ROLE complaints_svc PASSWORD '...';   -- as the superuser, e.g. via `\password`
set -eu

# secret NAME: the value of $NAME, or the contents of the file $NAME_FILE (trailing newlines
# dropped); fails when neither is set, so no role is left without a password by mistake.
secret() {
    file=$(eval "printf '%s' \"\${${1}_FILE:-}\"")
    if [ -n "$file" ]; then
        cat "$file"
    else
        value=$(eval "printf '%s' \"\${${1}:-}\"")
        if [ -z "$value" ]; then
            echo "20-passwords.sh: set $1 (or ${1}_FILE)" >&2
            exit 1
        fi
        printf '%s' "$value"
    fi
}

migrator=$(secret REDRESS_PG_MIGRATOR_PASSWORD)
complaints=$(secret REDRESS_PG_COMPLAINTS_PASSWORD)
escalation=$(secret REDRESS_PG_ESCALATION_PASSWORD)
learning_reviews=$(secret REDRESS_PG_LEARNING_REVIEWS_PASSWORD)

# psql quotes each :'variable' as a string literal, so any character is safe in a password.
psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v migrator="$migrator" -v complaints="$complaints" \
    -v escalation="$escalation" -v learning_reviews="$learning_reviews" <<'SQL'
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET password_encryption = 'scram-sha-256';
ALTER ROLE redress_migrator PASSWORD :'migrator';
ALTER ROLE complaints_svc PASSWORD :'complaints';
ALTER ROLE escalation_svc PASSWORD :'escalation';
ALTER ROLE learning_reviews_svc PASSWORD :'learning_reviews';
SQL
