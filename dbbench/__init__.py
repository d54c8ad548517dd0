"""dbbench: should a Django team move from PostgreSQL to MySQL/MariaDB? Measure it."""

__version__ = "0.1.0"
