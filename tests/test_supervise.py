"""scripts/supervise.sh, the wrapper `make run` starts the workers and beat with (Procfile):
a process that exits by itself is started again, a stop (SIGTERM) stops it for good."""

import signal
import subprocess
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "supervise.sh"


# Each step takes well under a second alone (the restart waits 1 s); a loaded CI machine can
# stretch that many times over, and a deadline only has to end a hung run.
DEADLINE_SECONDS = 120.0


def wait_for(condition, *, timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)  # polling with a deadline


def test_a_process_that_exits_is_started_again_and_a_stop_reaches_it_and_ends_the_loop(tmp_path):
    starts, stopped = tmp_path / "starts", tmp_path / "stopped"
    # a process that crashes at once the first time, then runs until it is told to stop; its
    # trap is set before it says it started, so the stop cannot arrive before the trap does
    child = (
        f"trap 'echo stop > {stopped}; exit 0' TERM; "
        f"echo start >> {starts}; "
        f"if [ $(wc -l < {starts}) -lt 2 ]; then exit 3; fi; "
        "while :; do sleep 0.05; done"
    )
    supervisor = subprocess.Popen([str(SCRIPT), "bash", "-c", child], stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: starts.exists() and len(starts.read_text().splitlines()) == 2)
        assert supervisor.poll() is None  # the crash did not end it

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=DEADLINE_SECONDS) == 0
        wait_for(stopped.exists)  # the stop reached the process
        assert len(starts.read_text().splitlines()) == 2  # and it was not started again
        assert "exited with status 3; starting it again in 1s" in supervisor.stderr.read()
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
