#!/usr/bin/env bash
# Make a fresh machine ready for dbbench: Debian build deps for mysqlclient, both servers running, a
# virtualenv with the project installed. Idempotent: a second run only checks.
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
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "bootstrap: installing ${need_apt[*]} (apt)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

scripts/servers.sh

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
