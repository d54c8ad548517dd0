"""``dbbench app PATH``: run a team's own Django test suite on each target and say what the move breaks.

- :mod:`detect` finds the settings module and the test runner of the project (never changing its files);
- :mod:`runner` runs the suite once per target in a subprocess, through a settings shim that points every
  database alias at the target, and collects per-test outcomes (:mod:`recorder` and the two child-side hooks,
  :mod:`child_pytest` and :mod:`child_django`);
- :mod:`compare` lines the runs up per test and explains each break (parity probe ids, audit findings);
- :mod:`render` prints the text answer and the report's "Your project" section.
"""
