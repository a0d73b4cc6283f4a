"""Child processes the demo and the benchmark run: the exchange simulator and Celery workers.

Each is a context manager that starts the process, waits until it answers (polling with a
deadline, never a fixed sleep) and stops it on exit, also when the caller fails.

`netns` runs the process in a Linux network namespace (`ip netns exec`, which execs, so the
Popen's pid is the process itself) and `host` is the address it listens on there: the
multi-host run (devtools/multihost.py) places each process on a host of its own.
"""

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import requests

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CELERY = str(Path(PYTHON).with_name("celery"))
ALL_QUEUES = "fanout,execution,default,metrics,billing"


class ProcessFailed(RuntimeError):
    pass


def database_url() -> str:
    """This process's database as a DATABASE_URL for a child process (in tests, the test
    database pytest-django created, not the one the environment names)."""
    from django.db import connection

    db = connection.settings_dict
    credentials = ""
    if db.get("USER"):
        credentials = quote(db["USER"], safe="")
        if db.get("PASSWORD"):
            credentials += ":" + quote(str(db["PASSWORD"]), safe="")
        credentials += "@"
    return f"postgres://{credentials}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{quote(db['NAME'], safe='')}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, *, timeout: float, what: str, process: subprocess.Popen | None = None, interval: float = 0.1):
    """Poll `check()` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if process is not None and process.poll() is not None:
            raise ProcessFailed(f"{what}: the process exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise ProcessFailed(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(interval)


def in_netns(netns: str | None, command: list[str]) -> list[str]:
    """`command`, run inside network namespace `netns` when one is given."""
    return ["ip", "netns", "exec", netns, *command] if netns else list(command)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _stop(process: subprocess.Popen, *, timeout: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def simulator_process(
    *,
    port: int | None = None,
    latency_ms: float = 0.0,
    log=None,
    host: str = "127.0.0.1",
    netns: str | None = None,
    control_from: str | None = None,
    env: dict[str, str] | None = None,
):
    """The Binance simulator on `host` (loopback unless told); yields its base URL.
    `control_from`: a network whose clients may use its control API besides loopback."""
    port = port or free_port()
    command = [PYTHON, "manage.py", "exchange_simulator", "--host", host, "--port", str(port), "--latency-ms", str(latency_ms)]
    if control_from:
        command += ["--control-from", control_from]
    process = subprocess.Popen(
        in_netns(netns, command),
        cwd=BASE_DIR,
        env={**os.environ, **(env or {})},
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://{host}:{port}"
    try:
        wait_until(lambda: _answers(f"{base_url}/api/v3/ping"), timeout=30, what="exchange simulator", process=process)
        yield base_url
    finally:
        _stop(process)


@contextmanager
def celery_worker_process(
    *,
    env: dict[str, str],
    queues: str = ALL_QUEUES,
    pool: str | None = None,
    concurrency: int | None = None,
    include: str | None = None,
    name: str = "worker",
    log=None,
    netns: str | None = None,
):
    """A real Celery worker (`celery -A config worker`) with `env` added to this process's
    environment; yields the Popen once the worker answers a ping. Pool and concurrency
    default to the settings (CELERY_WORKER_POOL, CELERY_WORKER_CONCURRENCY), the
    configuration `make run` and docker-compose ship."""
    from celery import current_app as app

    hostname = f"{name}-{os.getpid()}-{free_port()}@{socket.gethostname()}"
    command = [
        CELERY,
        "-A",
        "config",
        "worker",
        "-Q",
        queues,
        "--hostname",
        hostname,
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
    ]
    if pool:
        command += ["--pool", pool]
    if concurrency:
        command += ["--concurrency", str(concurrency)]
    if include:
        command += ["--include", include]
    process = subprocess.Popen(
        in_netns(netns, command), cwd=BASE_DIR, env={**os.environ, **env}, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT
    )

    def answers() -> bool:
        return bool(app.control.ping(destination=[hostname], timeout=0.5))

    try:
        wait_until(answers, timeout=60, what="celery worker", process=process, interval=0.2)
        yield process
    finally:
        _stop(process)


@contextmanager
def web_process(*, env: dict[str, str], workers: int = 2, threads: int = 8, log=None, host: str = "127.0.0.1", netns: str | None = None):
    """gunicorn serving `config.wsgi` on a free port of `host` (loopback unless told); yields its base URL."""
    port = free_port()
    command = [
        str(Path(PYTHON).with_name("gunicorn")),
        "config.wsgi:application",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--access-logfile",
        "-",
    ]
    process = subprocess.Popen(
        in_netns(netns, command), cwd=BASE_DIR, env={**os.environ, **env}, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    base_url = f"http://{host}:{port}"
    try:
        wait_until(lambda: _answers(f"{base_url}/healthz"), timeout=60, what="web server", process=process)
        yield base_url
    finally:
        _stop(process)


def procfile_command(name: str) -> list[str]:
    """The command of one Procfile process (`make run` starts them with honcho), split as a shell would."""
    for line in (BASE_DIR / "Procfile").read_text().splitlines():
        process, separator, command = line.partition(":")
        if separator and process.strip() == name:
            return shlex.split(command.strip())
    raise ProcessFailed(f"no {name!r} process in the Procfile")


@contextmanager
def procfile_web_process(*, env: dict[str, str], log=None):
    """The web process exactly as `make run` starts it (the Procfile's `web` line: gunicorn,
    its settings module, workers and threads), bound to a free loopback port; yields its URL."""
    port = free_port()
    command = [f"127.0.0.1:{port}" if part.startswith("127.0.0.1:") else part for part in procfile_command("web")]
    process = subprocess.Popen(command, cwd=BASE_DIR, env={**os.environ, **env}, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{base_url}/healthz"), timeout=60, what="web server (Procfile)", process=process)
        yield base_url
    finally:
        _stop(process)
