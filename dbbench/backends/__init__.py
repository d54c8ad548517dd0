"""The database servers: what differs between vendors, and how dbbench reaches and owns its databases.

- ``spec``: :class:`BackendSpec`, the single place that holds backend differences; ``postgres`` and ``mysql`` its
  two families; ``registry`` the backends by family and URL scheme.
- ``targets``: a target is a named database URL (``--target``, ``DBBENCH_*`` variables).
- ``database``: dbbench's own, marked databases (created, checked, dropped; foreign ones refused).
- ``doctor``: reachability, real vendor and version, and the settings that decide a fair comparison.
- ``bulkload``: each vendor's fast load path (COPY, LOAD DATA LOCAL INFILE), shared by seeding and rehearsal.
"""
