"""One module per command: ``NAME``, ``add_arguments(parser)`` and ``run(args)``, whose docstring is the help."""
