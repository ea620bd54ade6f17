"""What the production-profile tests drive: processes of the production profile, a portfolio of
sandbox locks and codes, and the checks on both."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from django.conf import settings

from codes.models import AccessCode, AccessCodeStatus
from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from devices.models import Device, SandboxHeldCode


def wait_for(condition: Callable[[], object], *, timeout: float, what, every: float = 0.1, required=True):
    """Poll ``condition`` until it is truthy and return its value; after ``timeout`` seconds,
    fail naming ``what`` (or, not ``required``, return False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    if required:
        pytest.fail(f"timed out after {timeout} s waiting for {what() if callable(what) else what}")
    return False


class Processes:
    """Processes of the production profile, each in its own process group so that stopping one
    stops its children (qcluster forks a sentinel, workers, a monitor and a pusher)."""

    def __init__(self, env: dict, logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.running: list[subprocess.Popen] = []

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen:
        with (self.logs / f"{name}.log").open("ab") as log:  # the child keeps its own copy
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and manage.py)
                [sys.executable, *args],
                cwd=settings.BASE_DIR,
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process.name = name
        self.running.append(process)
        return process

    def qcluster(self, name: str, **env: str) -> subprocess.Popen:
        return self.start(name, "manage.py", "qcluster", **env)

    def manage(self, *args: str, **env: str) -> str:
        """Run a management command to completion; its output."""
        done = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def enqueue_sweeps(self, count: int) -> None:
        """Put ``count`` sweep tasks on the Redis queue, as the schedule does each minute."""
        self.manage(
            "shell",
            "-c",
            "from django_q.tasks import async_task\n"
            f"for _ in range({count}): async_task('codes.tasks.sweep_due_codes')",
        )

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the process and its children: nothing gets to clean up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def wait_for_clusters(self, count: int) -> None:
        """Until ``count`` clusters report to Redis, as each does every few seconds once its
        workers are up: a test's work is only then shared between them."""
        broker = redis.Redis.from_url(self.env["REDIS_URL"])
        pattern = f"django_q:{settings.Q_CLUSTER['name']}:cluster:*"
        wait_for(lambda: len(broker.keys(pattern)) >= count, timeout=60, what=f"{count} clusters to report")

    def stop(self, process: subprocess.Popen) -> None:
        """SIGTERM to the main process, as a supervisor stops a service (qcluster and gunicorn
        then stop their own children); after at most 20 s, SIGKILL to whatever of the group is
        left, so that no child outlives the test holding database connections."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for process in self.running:
            with contextlib.suppress(ProcessLookupError):  # already gone
                self.stop(process)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def guest_codes(locks: list[Device], count: int) -> list[AccessCode]:
    """``count`` ongoing codes spread over ``locks``, created as the API creates them: due now."""
    return [
        access_code_create(device=locks[n % len(locks)], request=AccessCodeRequest(name=f"Guest {n}"))
        for n in range(count)
    ]


def states(codes: list[AccessCode]) -> Counter:
    """How many of ``codes`` are in each status, with their active errors: a failure's story."""
    fresh = AccessCode.objects.filter(pk__in=[c.pk for c in codes]).prefetch_related("issues")
    return Counter(
        (code.status, tuple(sorted(i.code for i in code.issues.all() if i.cleared_at is None)))
        for code in fresh
    )


def held_but_unrecorded() -> int:
    """Codes the sandbox locks hold under ids no Latchkey code has recorded: sent, and the
    answer not yet recorded."""
    recorded = AccessCode.objects.filter(provider_code_id__gt="").values("provider_code_id")
    return SandboxHeldCode.objects.exclude(provider_code_id__in=recorded).count()


def all_set(codes: list[AccessCode]) -> bool:
    pks = [code.pk for code in codes]
    return AccessCode.objects.filter(pk__in=pks, status=AccessCodeStatus.SET).count() == len(pks)
