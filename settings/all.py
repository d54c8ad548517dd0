"""A shim for running from a checkout with DJANGO_SETTINGS_MODULE=settings.all: see dbbench.settings.all."""

from dbbench.settings.all import *  # noqa: F403
