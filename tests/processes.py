"""Finding the processes a test started, by the environment they were given."""

import os
import signal
from pathlib import Path


def processes_using(var_dir: Path) -> list[str]:
    """Command lines of processes started with LATCHKEY_VAR_DIR=var_dir in their environment."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"LATCHKEY_VAR_DIR={var_dir}".encode() in environ.split(b"\0"):
            found.append(f"{pid}: {cmdline}")
    return found


def kill_leftovers(var_dir: Path) -> None:
    """Kill what a test started and left running (after a failure): only its own processes."""
    for line in processes_using(var_dir):
        os.kill(int(line.split(":")[0]), signal.SIGKILL)
