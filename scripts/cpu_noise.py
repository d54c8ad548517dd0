"""Bursty CPU competition for calibrating the benchmark suite: what a shared CI machine does to a run.

Two processes (one per core here) each spin for a random 1-6 s, then sleep for a random 1-6 s, until stopped or
``--seconds`` have passed. Run a benchmark alongside it: every run measures the baseline twice (its control), and
the report must say the control failed:

    python scripts/cpu_noise.py --seconds 600 &
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import time


def hog(deadline: float) -> None:
    rng = random.Random()
    while time.time() < deadline:
        busy_until = min(deadline, time.time() + rng.uniform(1, 6))
        while time.time() < busy_until:
            pass
        time.sleep(rng.uniform(1, 6))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="stop after this long (default 600)")
    parser.add_argument("--processes", type=int, default=2, help="spinning processes (default 2)")
    args = parser.parse_args()
    deadline = time.time() + args.seconds
    workers = [mp.Process(target=hog, args=(deadline,)) for _ in range(args.processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


if __name__ == "__main__":
    main()
