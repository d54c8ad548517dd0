"""HTTP load on the quiz site: gunicorn serving each backend, Locust students taking quizzes.

- ``sweep``: ``dbbench load``, the user-count sweep per backend and CONN_MAX_AGE, and the knee.
- ``config``: what a load test runs (``LoadConfig``), parsed from command-line strings.
- ``site``: gunicorn serving the quiz site, its health and the server's own errors.
- ``locust``: one step's Locust processes and their figures.
- ``locustfile``: the simulated students.
- ``stats``: per-step figures and the knee, pure functions over Locust's numbers.
"""
