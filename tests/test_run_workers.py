"""`manage.py run_workers` under a supervisor's stop: a SIGTERM to its whole process group (what
systemd sends by default) ends the cluster and every one of its processes, with exit status 0;
and if the command itself is killed outright, the cluster does not stay behind.

(`qcluster` itself, signalled the same way, stays "stopping" until it is killed.) The cluster
here runs the embedded profile, SQLite and the ORM broker, in a directory of its own; stopping
one in the middle of a sweep is tests/production/test_worker_stop.py."""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings

from tests.processes import kill_leftovers, processes_using

# Generous bounds: these wait for real processes on a busy machine, they time nothing.
START_SECONDS = 120
STOP_SECONDS = 60


def _wait_until(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


@pytest.fixture
def workers(tmp_path):
    """Start `run_workers` as a supervisor would: a process group of its own, which it leads.
    Yields (process, var_dir); whatever of it is left at the end is killed."""
    var_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        LATCHKEY_VAR_DIR=str(var_dir),
        LATCHKEY_READ_DOTENV="0",
        DEBUG="1",
        Q_WORKERS="2",
        PYTHONPATH=str(settings.BASE_DIR),
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=settings.BASE_DIR, env=env, check=True, timeout=300)  # noqa: S603
    log = (tmp_path / "workers.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        [*manage, "run_workers"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # Up when the cluster has forked its sentinel, workers, monitor and pusher (6 processes
        # with this command and qcluster's main one).
        _wait_until(lambda: len(processes_using(var_dir)) >= 6, START_SECONDS, "the cluster to start")
        _wait_until(
            lambda: b"running." in (tmp_path / "workers.log").read_bytes(),
            START_SECONDS,
            "the cluster to run",
        )
        yield process, var_dir
    finally:
        kill_leftovers(var_dir)
        log.close()


def test_sigterm_to_the_whole_group_stops_every_process_cleanly(workers, tmp_path):
    process, var_dir = workers
    os.killpg(process.pid, signal.SIGTERM)  # as systemd stops a service
    assert process.wait(timeout=STOP_SECONDS) == 0, (tmp_path / "workers.log").read_text()
    _wait_until(lambda: not processes_using(var_dir), STOP_SECONDS, "every cluster process to exit")
    log = (tmp_path / "workers.log").read_text()
    assert "has stopped." in log  # django-q2's own clean stop, not a kill
    assert "killing it" not in log


def test_the_cluster_does_not_outlive_a_killed_run_workers(workers):
    process, var_dir = workers
    process.kill()  # SIGKILL: run_workers gets no chance to pass anything on
    process.wait(timeout=STOP_SECONDS)
    _wait_until(lambda: not processes_using(var_dir), STOP_SECONDS, "the orphaned cluster to exit")
