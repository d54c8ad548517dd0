"""The quiz site under gunicorn for a load test: its environment, start-up, health checks and failure diagnosis."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dbbench import processes
from dbbench.backends.targets import ENV_TARGETS, Target
from dbbench.errors import DbbenchError, mask_secrets
from dbbench.load.config import LoadConfig
from dbbench.load.shapes import ENV_SHAPES_DIR
from dbbench.load.timing import ENV_SERVER_TIMING
from dbbench.load.variants import Variant

STARTUP_TIMEOUT_S = 30.0  # gunicorn importing Django and answering /health/
MAX_LOG_BYTES = 4 * 1024 * 1024  # a step's share of the site log read for its errors; enough for thousands of 500s


class BackendFailed(DbbenchError):
    """One backend's run broke (server died, every request failed): recorded, and the other runs go on."""


def connect_host(listen: str) -> str:
    return "127.0.0.1" if listen in ("0.0.0.0", "") else listen


def site_env(
    target: Target,
    variant: Variant,
    listen: str = "127.0.0.1",
    *,
    measure: bool = True,
    shapes_dir: Path | None = None,
) -> dict[str, str]:
    """The environment that makes the quiz site serve ``target`` alone (as ``default``) with ``variant``'s settings.

    ``target`` is where the site connects: the variant's own target, or the pooler in front of it.

    The site answers only the Host names it knows (ALLOWED_HOSTS): loopback, plus the address it listens on when
    remote Locust workers reach it there.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBBENCH_", "DJANGO_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "dbbench.settings.all",
            ENV_TARGETS: f"{target.name}={target.url}",
            "DBBENCH_ALLOWED_HOSTS": connect_host(listen),
            ENV_SERVER_TIMING: "1" if measure else "0",
            **variant.env(),
        }
    )
    if measure and shapes_dir is not None:
        env[ENV_SHAPES_DIR] = str(shapes_dir)
    return env


def log_size(server: processes.Child) -> int:
    """Where the site's log ends now: :func:`server_error` reads what a step added after it."""
    try:
        return server.log.stat().st_size
    except OSError:
        return 0


def server_error(server: processes.Child, target: Target, since: int = 0) -> str | None:
    """The site's own word for its failures since ``since``: the most frequent exception its log recorded
    (Django logs each 500 with its traceback; the last line names the cause, e.g. PostgreSQL's
    ``too many connections for role``), masked, with how often it came."""
    try:
        with open(server.log, "rb") as handle:
            handle.seek(since)
            text = handle.read(MAX_LOG_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    causes = Counter(_exception_lines(text))
    if not causes:
        return None
    cause, count = causes.most_common(1)[0]
    return mask_secrets(f"{cause} (logged {count} time{'s' if count > 1 else ''})", [target])


def _exception_lines(text: str) -> list[str]:
    """The closing ``module.Error: message`` line of every traceback (messages spanning lines joined)."""
    found: list[str] = []
    for block in text.split("Traceback (most recent call last):")[1:]:
        lines = block.splitlines()
        tail = [i for i, line in enumerate(lines) if line and not line[0].isspace()]
        if not tail:
            continue
        message = [lines[tail[0]].strip()]
        for line in lines[tail[0] + 1 :]:
            if not line.strip() or line.startswith(("The above exception", "During handling", "Internal Server")):
                break
            if line.startswith("["):  # gunicorn's own next log line
                break
            message.append(line.strip())
        found.append(" ".join(message)[:500])
    return found


def shapes_dir(workdir: Path) -> Path:
    """Where the site's workers write their SQL shape histograms (load/shapes.py)."""
    path = workdir / "sql-shapes"
    path.mkdir(exist_ok=True)
    return path


def start_site(
    target: Target, variant: Variant, config: LoadConfig, workdir: Path, enter: Callable[[], None] | None = None
) -> tuple[str, processes.Child]:
    """gunicorn serving the quiz site on ``target`` with ``variant``'s settings, bound to a free port: ``(url,
    process)`` once /health/ answers. ``target`` is where the site connects (see :func:`site_env`); ``enter``
    runs in gunicorn's process before exec (the single box's control groups)."""
    port = processes.free_port(config.listen)
    workers, threads = variant.gunicorn(config)
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "dbbench.quiz.wsgi:application",
        f"--bind={config.listen}:{port}",
        f"--workers={workers}",
        f"--threads={threads}",
        f"--worker-class={'gthread' if threads > 1 else 'sync'}",
        "--timeout=30",
        "--preload",  # import Django once, before forking: workers start in milliseconds
        "--graceful-timeout=5",
        "--no-control-socket",  # gunicorn 27 would otherwise share one socket path between runs
        f"--chdir={workdir}",
        "--error-logfile=-",
    ]
    server = processes.spawn(
        "gunicorn",
        argv,
        env=site_env(target, variant, config.listen, measure=config.measure, shapes_dir=shapes_dir(workdir)),
        cwd=workdir,
        log=workdir / "site.log",
        enter=enter,
    )
    url = f"http://{connect_host(config.listen)}:{port}"
    try:
        wait_ready(url, server, target)
        warm_up(url, workers * threads)
    except BaseException:
        processes.stop(server)
        raise
    return url, server


def wait_ready(url: str, server: processes.Child, target: Target, timeout: float = STARTUP_TIMEOUT_S) -> None:
    last = "no answer"
    for _ in processes.deadline_loop(timeout):
        if not server.running():
            raise BackendFailed(f"the application server did not start: {mask_secrets(server.last_lines(), [target])}")
        try:
            _health(url)
            return
        except (OSError, ValueError) as exc:
            last = str(exc)
    raise BackendFailed(f"the application server did not answer {url}/health/ within {timeout:.0f} s ({last})")


def warm_up(url: str, workers: int, rounds: int = 4) -> None:
    """Concurrent catalog requests, so every worker has imported its views and (with CONN_MAX_AGE) connected."""
    from concurrent.futures import ThreadPoolExecutor

    def fetch(_: int) -> None:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/quizzes/", timeout=5) as response:
            response.read()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(fetch, range(workers * rounds)))


def exited(server: processes.Child, target: Target) -> str:
    text = f"the application server exited (code {server.popen.returncode})"
    last = mask_secrets(server.last_lines(), [target])
    return f"{text}: {last}" if last else text


def diagnose(target: Target, symptom: str) -> str:
    """The database's own one-line error when it is unreachable (the usual cause), else the symptom."""
    from dbbench.errors import ConnectionFailed

    try:
        with target.spec.connection(target, target.database):
            pass
    except ConnectionFailed as exc:
        return f"{symptom}; {exc}"
    return mask_secrets(symptom, [target])


def check_site(url: str, server: processes.Child, target: Target) -> None:
    """Before a step: the server runs and its database answers."""
    if not server.running():
        raise BackendFailed(exited(server, target))
    try:
        body = _health(url)
    except (OSError, ValueError) as exc:
        raise BackendFailed(diagnose(target, f"the site is not healthy: {exc}")) from None
    if not body.get("quizzes"):
        raise BackendFailed("the site's database holds no quizzes")


def _health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/health/", timeout=5) as response:  # loopback, our own server
        return json.loads(response.read())
