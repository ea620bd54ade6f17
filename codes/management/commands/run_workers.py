"""Run django-q2's cluster so that a supervisor can stop it.

A supervisor stops a service by signalling its whole process group (systemd's default
KillMode, a container runtime, Ctrl-C in a terminal). django-q2's ``qcluster`` does not survive
that: its sentinel dies of the same SIGTERM at once, its workers with the tasks in their hands,
and the main process then stays "stopping" until it is killed. It does stop cleanly when its
main process alone is signalled: the sentinel stops taking tasks, lets each worker finish the
one in hand, and exits.

So this command runs ``qcluster`` in a process group of its own, which the supervisor's signal
does not reach, and passes on one SIGTERM to its main process. If the cluster has not exited
after ``--grace`` seconds (WORKER_STOP_SECONDS), it is killed with all its processes: a task cut
short then leaves its claimed codes to their leases, as after any crash. The cluster also gets
SIGTERM if this process dies without passing it on (Linux's parent-death signal), so it is
never left running on its own."""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _die_with_parent() -> None:  # pragma: no cover (runs in the child, before exec)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Command(BaseCommand):
    help = (
        "Run django-q2's cluster (qcluster) in a process group of its own: a stop signal to this "
        "process, or to its whole group, lets the tasks in hand finish, then exits."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--grace",
            type=float,
            default=settings.WORKER_STOP_SECONDS,
            help="Seconds the cluster may take to stop before it is killed (default WORKER_STOP_SECONDS).",
        )

    def handle(self, *args, grace: float, **options):
        stop_requested: list[int] = []
        for signum in _STOP_SIGNALS:
            signal.signal(signum, lambda signum, frame: stop_requested.append(signum))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(settings.BASE_DIR), os.environ.get("PYTHONPATH")])
            ),
        }
        cluster = subprocess.Popen(  # noqa: S603 (this interpreter, Django's own command line)
            [sys.executable, "-m", "django", "qcluster"],
            cwd=settings.BASE_DIR,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 (no threads have started here)
        )
        while cluster.poll() is None and not stop_requested:
            time.sleep(0.2)
        if cluster.returncode is not None:  # it ended by itself: the supervisor restarts us
            sys.exit(cluster.returncode)

        name = signal.Signals(stop_requested[0]).name
        self.stderr.write(f"run_workers: {name}; letting the cluster finish its tasks (at most {grace:g} s).")
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.stderr.write(f"run_workers: the cluster did not stop within {grace:g} s; killing it.")
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()
            sys.exit(1)
        # Nothing of the cluster outlives it (its children have exited by now when it stopped cleanly).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cluster.pid, signal.SIGKILL)
        self.stderr.write("run_workers: the cluster has stopped.")
