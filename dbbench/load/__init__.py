"""HTTP load on the quiz site: gunicorn serving each backend, Locust students taking quizzes.

- ``sweep``: ``dbbench load``, the user-count sweep per backend and CONN_MAX_AGE, and the knee.
- ``config``: what a load test runs (``LoadConfig``), parsed from command-line strings.
- ``site``: gunicorn serving the quiz site, its health and the server's own errors.
- ``knee``: the adaptive knee search per configuration (pure over a ``measure(probe)`` callable), in a time budget.
- ``locust``: one step's Locust processes and their figures; workers once one Locust process saturates its core.
- ``locustfile``: the simulated students.
- ``stats``: per-step figures and the knee, pure functions over Locust's numbers.
"""
