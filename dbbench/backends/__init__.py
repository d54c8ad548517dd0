"""The database servers: what differs between vendors, and how dbbench reaches and owns its databases.

- ``spec``: :class:`BackendSpec`, the single place that holds backend differences (abstract methods every family
  provides, feature flags it may turn on, the names of its settings); ``postgres`` and ``mysql`` its two families;
  ``registry`` the backends by family and URL scheme (a new family: its module plus its line in ``FAMILIES``).
- ``targets``: a target is a named database URL (``--target``, ``DBBENCH_*`` variables).
- ``database``: dbbench's own, marked databases (created, checked, dropped; foreign ones refused).
- ``bulkload``: each vendor's fast load path (COPY, LOAD DATA LOCAL INFILE), shared by seeding and rehearsal.
"""
