#!/usr/bin/env bash
# Make a fresh machine ready for dbbench: Debian build deps for mysqlclient, the PostgreSQL and MariaDB server
# programs (dbbench runs its own servers from them: no system service is started or needed), a virtualenv with
# the project installed. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need_apt=()
# mysqlclient compiles from source: without these it fails with "Can not find valid pkg-config name".
dpkg -s default-libmysqlclient-dev >/dev/null 2>&1 || need_apt+=(default-libmysqlclient-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
# Headless Chromium renders report.html in the report's tests.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# The server programs dbbench's managed servers run (dbbench servers): initdb/postgres and mariadbd.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
[ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || need_apt+=(mariadb-client)
# PgBouncer in front of a PostgreSQL target (dbbench.servers.pgbouncer starts its own; no service is needed).
[ -x /usr/sbin/pgbouncer ] || need_apt+=(pgbouncer)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "bootstrap: installing ${need_apt[*]} (apt)"
    $SUDO apt-get update -qq
    # Debian starts a package's service on install unless policy-rc.d says no (exit 101): dbbench needs only the
    # programs, and an already running system server is left alone.
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
        $SUDO chmod +x "$policy"
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
    [ -z "$policy" ] || $SUDO rm -f "$policy"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    "$PY" -m venv .venv
    .venv/bin/pip install -q --upgrade pip
fi
stamp=.venv/.dbbench-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "bootstrap: installing dbbench and its dependencies into .venv"
    .venv/bin/pip install -q -e '.[dev]'
    touch "$stamp"
fi
