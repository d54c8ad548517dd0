#!/usr/bin/env bash
# Start the local PostgreSQL and MariaDB servers if they are down, then wait until both answer.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
my_up() { mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -uroot ping >/dev/null 2>&1 \
          || mysqladmin --protocol=tcp -h 127.0.0.1 -P 3306 -uroot ping >/dev/null 2>&1; }

if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "servers: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
fi
if ! my_up && [ -x /usr/sbin/mariadbd ]; then
    echo "servers: starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
for _ in $(seq 1 60); do
    if pg_up && my_up; then exit 0; fi
    sleep 1
done
pg_up || echo "servers: PostgreSQL is not answering on 127.0.0.1:5432" >&2
my_up || echo "servers: MariaDB/MySQL is not answering on 127.0.0.1:3306" >&2
exit 1
