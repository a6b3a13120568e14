"""Shared benchmark plumbing: start ASGI servers, set up a tracker database, run and parse wrk.

The server is uvicorn (what `tracker serve` runs), or the one named by BENCH_SERVER: `granian` or
`hypercorn`, to compare them (install them in the venv for that; tracker does not depend on them)."""

from __future__ import annotations

import base64
import json
import os
import re
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the repo: uvicorn imports bench.apps from here
TRACKER_CLI = Path(sys.executable).with_name("tracker")
UVICORN_FLAGS = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
                 "--workers", "1", "--backlog", "4096"]
SERVER_NAME = os.environ.get("BENCH_SERVER", "uvicorn")


def server_command(name: str, factory: str, port: int) -> list[str]:
    """The command line serving `bench.apps:<factory>` on 127.0.0.1:port, one worker, uvloop, no access log."""
    target = f"bench.apps:{factory}"
    if name == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "--factory", target, "--host", "127.0.0.1", "--port", str(port),
                *UVICORN_FLAGS]
    if name == "granian":
        # --backpressure: granian serves at most that many requests at once per worker (by default
        # the backlog), and every open stream is a request in progress. The request head's deadline
        # is tracker's (tracker/serving.py), not granian's 30 s.
        return [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--host", "127.0.0.1",
                "--port", str(port), "--http", "1", "--no-ws", "--workers", "1", "--loop", "uvloop",
                "--backlog", "4096", "--backpressure", "1000000", "--http1-header-read-timeout", "10000",
                "--log-level", "warning", target]
    if name == "hypercorn":
        # `module:factory()`: hypercorn calls the factory.
        return [sys.executable, "-m", "hypercorn", "--worker-class", "uvloop", "--bind", f"127.0.0.1:{port}",
                "--workers", "1", "--backlog", "4096", "--log-level", "warning", f"{target}()"]
    raise SystemExit(f"BENCH_SERVER={name!r} is not known: use uvicorn, granian or hypercorn.")


def raise_fd_limit(wanted: int = 65536) -> None:
    # Thousands of open streams need thousands of descriptors, in the server and in the client.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(wanted, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`bench.apps:<factory>` under uvicorn (or BENCH_SERVER) on a free 127.0.0.1 port, as a subprocess."""

    def __init__(self, factory: str, env: dict[str, str], log_dir: Path, command: list[str] | None = None,
                 port: int | None = None) -> None:
        """`command`, when given, is run instead (its port: `{port}`); `port` is given when the app
        must know its own URL (TRACKER_BASE_URL)."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{factory}-{self.port}.log"
        self.log = open(self.log_path, "wb")  # closed in stop()
        command = [arg.format(port=self.port) for arg in command] if command else None
        self.proc = subprocess.Popen(
            command or server_command(SERVER_NAME, factory, self.port), cwd=ROOT, env=env, stdout=self.log,
            stderr=subprocess.STDOUT, preexec_fn=raise_fd_limit,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server not listening after {timeout}s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def sockets(self) -> int:
        """Sockets open in the server's processes (its listening socket, connections, internal ones)."""
        count = 0
        for pid in _process_tree(self.proc.pid):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    count += os.readlink(fd).startswith("socket:")
                except OSError:
                    pass  # closed while we looked
        return count

    def rss_kb(self) -> int:
        """The resident memory of the server and its child processes (granian serves from a child)."""
        return sum(_rss_kb(pid) for pid in _process_tree(self.proc.pid))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(p for child in children for p in _process_tree(int(child)))]


def _rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def load_average() -> str:
    """The 1-minute load average: the machine is shared, so each figure says how busy it was."""
    return Path("/proc/loadavg").read_text().split()[0]


def tracker_env(tmpdir: Path) -> tuple[dict[str, str], str]:
    """Environment for a fresh tracker database with tenant `bench` and a generic source; returns the secret."""
    env = {**os.environ,
           "TRACKER_DATABASE_URL": f"sqlite:///{tmpdir}/bench.db",  # tmpdir is absolute: sqlite:////...
           "TRACKER_SECRET_KEYS": secrets.token_hex(16)}  # 32 characters
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    cli(env, "tenant", "add", "bench")
    cli(env, "source", "add", "bench", "generic", "--secret", secret)
    return env, secret


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(TRACKER_CLI), *args], env=env, capture_output=True, text=True, timeout=60,
                          check=True)
    return done.stdout


def wrk(url: str, seconds: int, *options: str, script_args: tuple[str, ...] = ()) -> dict[str, Any]:
    """One `wrk -t1 -c64 --latency` run: req/s, p50/p99 in ms, non-2xx/3xx and socket errors."""
    # wrk hands the Lua init() its argv from the URL on: args[1] is the first script argument.
    cmd = ["wrk", "-t1", "-c64", f"-d{seconds}s", "--latency", "--timeout", "5s", *options, "--", url, *script_args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": _ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "p99": _ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "non2xx": float(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0.0,
        "socket_errors": float(sum(int(g) for g in errors.groups())) if errors else 0.0,
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "output": out,
    }


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def median_run(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Medians of req/s and latency over the repeats; error counts are summed."""
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "p50": statistics.median(r["p50"] for r in runs),
        "p99": statistics.median(r["p99"] for r in runs),
        "non2xx": sum(r["non2xx"] for r in runs),
        "socket_errors": sum(r["socket_errors"] for r in runs),
    }


def row(name: str, m: dict[str, float], base: dict[str, float] | None = None, target: float | None = None) -> str:
    text = f"{name:<14} {m['rps']:>9.0f} req/s  p50 {m['p50']:>7.2f} ms  p99 {m['p99']:>7.2f} ms"
    if base is not None:
        ratio = m["rps"] / base["rps"]
        verdict = "" if target is None else f" (target >= {target:.2f}: {'ok' if ratio >= target else 'MISSED'})"
        text += f"  ratio {ratio:.3f}{verdict}"
    return text + f"  non-2xx/3xx {m['non2xx']:.0f}  socket errors {m['socket_errors']:.0f}"


def signed_webhook(secret: str, case_id: str, n: int, message_id: str = "") -> tuple[dict[str, str], bytes]:
    """Headers and body of the n-th update to a case: a new title, progress and public message (a new
    one each time, unless `message_id` is given: then the update replaces that message)."""
    from datetime import UTC, datetime

    from tracker.standard_webhooks import sign

    body = json.dumps({
        "type": "case.updated", "occurred_at": datetime.now(UTC).isoformat(),
        "case": {"id": case_id, "title": f"Invoice export fails ({n})", "stage": "in_progress",
                 "status_label": "Investigating", "waiting_on": "company", "progress": n % 101,
                 "next_steps": [{"text": "Engineering reproduces", "owner": "company"}]},
        "message": {"id": message_id or f"m-{n}", "body": f"Update {n}: we are still on it. " * 8, "public": True,
                    "author": "Dana"},
    }).encode()
    msg_id, timestamp = f"bench-{case_id}-{n}-{secrets.token_hex(4)}", int(time.time())
    headers = {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
               "webhook-signature": sign(secret, msg_id, timestamp, body)}
    return headers, body


def case_link(env: dict[str, str], case_id: str) -> str:
    """The path of a signed case link minted by the CLI (its last stdout line is the URL)."""
    from urllib.parse import urlsplit

    return urlsplit(cli(env, "link", "bench", f"generic:{case_id}").strip().splitlines()[-1]).path
