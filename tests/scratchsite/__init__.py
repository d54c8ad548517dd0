"""A scratch quiz site whose every request first waits in SQL or spins in Python, to make one tier the limit.

``DBBENCH_SCRATCH=sql:0.2`` sleeps 0.2 s inside the database (``pg_sleep``, ``SLEEP``) before each view;
``spin:0.05`` burns 50 ms of CPU in the app server. Served by gunicorn with ``DJANGO_SETTINGS_MODULE=
tests.scratchsite.settings`` (the repository's root on PYTHONPATH).
"""
