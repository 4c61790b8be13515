"""`carbon serve` as a real child process on a loopback port, for tests that kill it with SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

__all__ = ["CARBON_SCRIPT", "ServerProcess", "free_port"]

# the console script of the interpreter running the tests, so any venv works
CARBON_SCRIPT = Path(sys.executable).parent / "carbon"
HOST = "127.0.0.1"


def free_port() -> int:
    """A port the kernel just handed out on the loopback interface (free unless someone races us)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class ServerProcess:
    """One `carbon serve` process: start it, wait until /readyz answers 200, SIGKILL it.

    Its output goes to a log file (a pipe nobody reads could fill and stall the server); `tail()` gives
    the end of it for failure messages. `stop()` is safe to call at any time and more than once.
    """

    def __init__(self, env: dict[str, str], log_path: Path, api_key: str | None = None) -> None:
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("CARBON_")}
        child_env.update(env)
        try:
            self.process = subprocess.Popen(
                [str(CARBON_SCRIPT), "serve", "--host", HOST, "--port", str(self.port)],
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
        except BaseException:
            self._log.close()
            raise

    def client(self, timeout: float) -> httpx.Client:
        """An HTTP client of this server, sending its API key."""
        return httpx.Client(base_url=self.base_url, timeout=timeout, headers=self.headers)

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, chars: int = 3000) -> str:
        """The end of the server's output."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll GET /readyz until it answers 200; fail with the server's output if it exits or stalls."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"carbon serve exited with {self.process.returncode}:\n{self.tail()}"
                    )
                try:
                    if client.get("/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise AssertionError(f"carbon serve was not ready within {timeout} s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL the server (no shutdown handlers, no flush: a power cut as far as it knows) and reap it."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM, as an orchestrator stops a container (`process.wait()` gives the exit code)."""
        self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """Kill if still running, reap, close the log: for `finally` blocks."""
        try:
            self.kill()
        finally:
            self._log.close()
