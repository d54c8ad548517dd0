"""A shim for running from a checkout with DJANGO_SETTINGS_MODULE=settings.base: see dbbench.settings.base."""

from dbbench.settings.base import *  # noqa: F403
