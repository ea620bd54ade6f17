"""`make run` stops its background worker with make, even when a signal reaches make alone."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.processes import kill_leftovers, processes_using

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_sigterm_to_make_alone_stops_the_worker_and_the_server(tmp_path):
    venv = Path(sys.executable).parent.parent
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(LATCHKEY_VAR_DIR=str(tmp_path), LATCHKEY_READ_DOTENV="0", PYTHONPATH=str(settings.BASE_DIR))
    port = _free_port()
    make = subprocess.Popen(
        # -o: the shared virtualenv counts as installed (never rebuilt from this checkout).
        [shutil.which("make"), "-s", "run", f"VENV={venv}", f"PORT={port}", "-o", f"{venv}/.installed"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not any("qcluster" in p for p in processes_using(tmp_path)):
            assert make.poll() is None and time.monotonic() < deadline, "make run did not start a worker"
            time.sleep(0.5)
        while True:  # the web server answers
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the web server did not start"
                time.sleep(0.5)
        make.send_signal(signal.SIGTERM)  # to make only, not to its process group
        make.wait(timeout=10)
        deadline = time.monotonic() + 15
        while left := processes_using(tmp_path):
            assert time.monotonic() < deadline, f"still running after make stopped: {left}"
            time.sleep(0.5)
    finally:
        kill_leftovers(tmp_path)  # clean up after a failure
