#!/usr/bin/env bash
# dbbench's managed PostgreSQL and MariaDB (dbbench servers): scripts/servers.sh start|stop|status|destroy, or
# scripts/servers.sh exec -- COMMAND to run COMMAND with them up and DBBENCH_POSTGRES_URL / DBBENCH_MYSQL_URL set.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/dbbench servers "$@"
