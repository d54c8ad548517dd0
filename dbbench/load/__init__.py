"""HTTP load on the quiz site: gunicorn serving each backend, Locust students taking quizzes.

- ``sweep``: ``dbbench load``, the user-count sweep per backend and CONN_MAX_AGE, and the knee.
- ``locustfile``: the simulated students.
- ``stats``: per-step figures and the knee, pure functions over Locust's numbers.
"""
