"""Every configured target at once, each under its own alias, so one process measures them side by side."""

from dbbench.backends.targets import targets_from_env

from .base import *  # noqa: F403
from .base import databases

DATABASES = databases(targets_from_env())
