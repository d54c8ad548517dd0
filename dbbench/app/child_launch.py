"""Child side: run a project's own script (``runtests.py``) the way the project does, with dbbench's hooks.

``python -m <package>.child_launch SCRIPT ARGS...``: ``settings.configure(...)`` points the databases at the
target (:mod:`child_settings`), Django's runner records each test, then the script runs as ``__main__`` with its
own folder first on the path, as ``python SCRIPT`` would have it.
"""

from __future__ import annotations

import os
import runpy
import sys

from . import child_settings

if __name__ == "__main__":
    script = os.path.abspath(sys.argv[1])
    sys.argv = [script, *sys.argv[2:]]
    sys.path.insert(0, os.path.dirname(script))
    child_settings.patch_configure()
    import django.test.runner

    from . import child_django

    # A script that builds DiscoverRunner itself (not through get_runner) gets the recording one too.
    django.test.runner.DiscoverRunner = child_django.Runner  # type: ignore[misc]
    runpy.run_path(script, run_name="__main__")
