"""Seam's own published fake server (@seamapi/fake-seam-connect from npm), run on loopback."""

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "node_modules" / "@seamapi" / "fake-seam-connect" / "dist" / "server.js"
API_KEY = "seam_apikey1_token"  # the fake's seeded key
SEEDED_LOCKS = {"august_device_1", "august_device_2", "schlage_device_id"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeSeam:
    def __init__(self) -> None:
        if not SERVER.exists():
            raise RuntimeError(
                f"{SERVER} is missing: run `npm ci` (make install does) to install Seam's fake server"
            )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(  # noqa: S603
            ["node", str(SERVER), "--seed"],  # noqa: S607
            env={**os.environ, "PORT": str(self.port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fake Seam exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("fake Seam did not answer /health within 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
