"""dbbench's own PostgreSQL and MariaDB servers, set up alike by construction (``dbbench servers``).

Commands that need a database use them when no target is given: no ``--target`` and none of
``DBBENCH_TARGETS``, ``DBBENCH_POSTGRES_URL``, ``DBBENCH_MYSQL_URL`` in the environment.
"""

from dbbench.servers.session import (
    check_disk,
    cpus_left,
    managed,
    resource_limits,
    session_targets,
    settings_source,
    wanted,
)

__all__ = ["check_disk", "cpus_left", "managed", "resource_limits", "session_targets", "settings_source", "wanted"]
