"""The migration rehearsal: copy the quiz tables from one backend to another, verify, time, estimate downtime.

- ``rehearse``: ``dbbench migrate-data`` end to end.
- ``estimate``: the downtime estimate for other sizes.
- ``render``: the printed summary.
- ``copy``: streaming the tables in dependency order through the target's fast load path.
- ``verify``: row counts and content checksums on both sides, and the first differing rows.
"""
