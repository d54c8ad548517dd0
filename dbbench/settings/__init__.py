"""Django settings: ``base`` plus one short module per backend (``postgres``, ``mysql``) and ``all`` targets."""
