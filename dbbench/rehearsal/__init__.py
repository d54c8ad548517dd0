"""The migration rehearsal: copy the quiz tables from one backend to another, verify, time, estimate downtime.

- ``rehearse``: ``dbbench migrate-data`` end to end.
- ``estimate``: the downtime estimate for other sizes.
- ``render``: the printed summary.
- ``copy``: streaming the tables in dependency order through the target's fast load path, indexes built after.
- ``source``: the source's rows as bulk-load text (by the server itself where it can: COPY).
- ``compare``: both servers sum row digests per id range; rows read back and compared only where they differ.
- ``verify``: what a comparison found, the ORM smoke test, the conversions.
"""
