"""Child side of ``dbbench replay``: Django set up with the project's settings and the replay's aliases.

Run as ``python -m dbbench.replay.child CAPTURE OUTPUT`` by :mod:`dbbench.replay.launch`, which has already
checked the capture against this Django and project. Writes the replay data as JSON to OUTPUT, or prints one
``DBBENCH_REPLAY_ERROR`` line and exits 2.
"""

from __future__ import annotations

import json
import os
import sys

CONFIG_ENV = "DBBENCH_REPLAY"
ERROR = "DBBENCH_REPLAY_ERROR "


def main(argv: list[str]) -> int:
    capture_path, output = argv
    config = json.loads(os.environ[CONFIG_ENV])
    try:
        import django

        django.setup()
        from dbbench.replay.run import Aliases, Options, replay
        from dbbench.results import read_json

        capture = read_json(capture_path)["data"]
        data = replay(capture, Aliases(**config["aliases"]), Options(**config["options"]))
    except Exception as exc:  # every failure is one line for the parent to print
        from dbbench.errors import DbbenchError, one_line

        text = str(exc) if isinstance(exc, DbbenchError) else f"replay failed: {type(exc).__name__}: {one_line(exc)}"
        print(ERROR + " ".join(text.split()), flush=True)
        return 2
    with open(output, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
