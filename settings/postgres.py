"""A shim for running from a checkout with DJANGO_SETTINGS_MODULE=settings.postgres: see dbbench.settings.postgres."""

from dbbench.settings.postgres import *  # noqa: F403
