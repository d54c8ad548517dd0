"""The database servers: what differs between vendors, and how dbbench reaches and owns its databases.

- ``spec``: one :class:`BackendSpec` per vendor family, the single place that holds backend differences.
- ``targets``: a target is a named database URL (``--target``, ``DBBENCH_*`` variables).
- ``database``: dbbench's own, marked databases (created, checked, dropped; foreign ones refused).
- ``doctor``: reachability, real vendor and version, and the settings that decide a fair comparison.
- ``bulkload``: each vendor's fast load path (COPY, LOAD DATA LOCAL INFILE), shared by seeding and rehearsal.
"""
