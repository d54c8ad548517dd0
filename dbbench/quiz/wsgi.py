"""WSGI entry point of the quiz site, for gunicorn (``gunicorn dbbench.quiz.wsgi:application``).

The backend is chosen by the environment alone: ``DJANGO_SETTINGS_MODULE`` (``settings.all`` by default, whose
``default`` database is the first of ``DBBENCH_TARGETS``) and ``DBBENCH_CONN_MAX_AGE``.
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dbbench.settings.all")

application = get_wsgi_application()
