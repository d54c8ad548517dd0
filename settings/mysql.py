"""A shim for running from a checkout with DJANGO_SETTINGS_MODULE=settings.mysql: see dbbench.settings.mysql."""

from dbbench.settings.mysql import *  # noqa: F403
