"""A bounded, open-loop load test of POST /v1/loan-batches against a real `carbon serve` subprocess.

    .venv/bin/python -m benchmarks.load_test --duration 600 --clients 4 --rate 20 --loans 1000

The script starts the server on 127.0.0.1 (a free port, a fresh temporary data dir, or --database-url),
gets an API key (--api-key, else `carbon keys create`), then runs --clients threads
(one httpx.Client each) on a fixed schedule: request n is due at n / rate seconds, client n % clients sends
it; a late request is sent at once and its lateness recorded, never ahead of its time. After the run it
checks the ledger against the acknowledged responses, stops the server with SIGTERM and prints a Markdown
summary (full JSON with --json). Exit code 1 on any error, a ledger mismatch or an unclean shutdown.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import httpx

__all__ = ["main", "run_load_test"]

HOST = "127.0.0.1"
CARBON_SCRIPT = Path(sys.executable).parent / "carbon"
SEQ = b"@@@@@@@@@"  # replaced by the zero-padded request number: fixed width, so one bytes.replace
DAYS = ("2021-03-31", "2021-06-30", "2021-09-30", "2021-12-31")
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 60.0


@dataclass(frozen=True)
class Options:
    """What to run: parsed from the command line."""

    duration: float
    clients: int
    rate: float
    loans: int
    warmup: float
    api_key: str | None = None
    database_url: str | None = None
    json_path: Path | None = None


@dataclass
class Sample:
    """One request: when it was due, sent and answered (seconds from the start), and what came back."""

    n: int
    due: float
    sent: float
    done: float = math.nan
    status: int | None = None
    error: str | None = None
    mg: Fraction = Fraction(0)
    loans_counted: int = 0
    duplicates: int = 0
    entry_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.error is None


@dataclass
class Run:
    """Shared by the client threads: the schedule, the body template and the results."""

    opts: Options
    base_url: str
    headers: dict[str, str]
    template: bytes
    token: str
    t0: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    missed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def parse_args(argv: Sequence[str] | None) -> Options:
    """Command-line options; the warm-up defaults to 10% of the duration."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.load_test", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load, warm-up included")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (threads)")
    parser.add_argument("--rate", type=float, default=20.0, help="batches per second over all clients")
    parser.add_argument("--loans", type=int, default=1000, help="loans per batch")
    parser.add_argument("--warmup", type=float, default=None, help="seconds excluded from the figures")
    parser.add_argument("--api-key", default=None, help="send this key instead of creating one")
    parser.add_argument("--database-url", default=None, help="CARBON_DATABASE_URL for the server")
    parser.add_argument("--json", dest="json_path", type=Path, default=None, help="write the full JSON here")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.clients < 1 or args.rate <= 0 or args.loans < 1:
        parser.error("duration, clients, rate and loans must be positive")
    warmup = round(args.duration * 0.1, 3) if args.warmup is None else args.warmup
    if not 0 <= warmup < args.duration:
        parser.error("warm-up must be at least 0 and shorter than the duration")
    return Options(args.duration, args.clients, args.rate, args.loans, warmup, args.api_key,
                   args.database_url, args.json_path)  # fmt: skip


# --- request bodies --------------------------------------------------------------------------------------


def body_template(token: str, loans: int) -> bytes:
    """One JSON body with SEQ where the request number goes, so each batch has fresh loan ids for ~free."""
    seq = SEQ.decode()
    body = {
        "batch_id": f"{token}-b{seq}",
        "loans": [
            {
                "loan_id": f"{token}-{seq}-{i:06d}",
                "disbursed_on": DAYS[i % len(DAYS)],
                "channel": "branch" if i % 5 == 4 else "online",
            }
            for i in range(loans)
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def body_for(template: bytes, n: int) -> bytes:
    """The body of request n: one replace over the pre-built bytes (tens of microseconds for 1,000 loans)."""
    return template.replace(SEQ, b"%09d" % n)


# --- the server ------------------------------------------------------------------------------------------


def free_port() -> int:
    """A port the kernel just handed out on loopback (free unless someone races us)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def server_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    """The caller's environment without its CARBON_* settings, plus ours: the run must not depend on them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARBON_")}
    env["CARBON_DATA_DIR"] = str(data_dir)
    if database_url:
        env["CARBON_DATABASE_URL"] = database_url
    return env


def create_key(env: dict[str, str]) -> tuple[str, str]:
    """A fresh key from `carbon keys create`, in the server's database, as an operator makes one."""
    command = [
        str(CARBON_SCRIPT),
        "keys",
        "create",
        "--tenant",
        "load-test",
        "--role",
        "submit",
        "--role",
        "read",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`carbon keys create` exited {done.returncode}: {done.stderr[-2000:]}")
    for line in done.stdout.splitlines():
        if line.strip().startswith("cbk_"):
            return line.strip(), "bearer key from `carbon keys create`"
    raise RuntimeError(f"`carbon keys create` printed no cbk_ line:\n{done.stdout[-2000:]}")


def resolve_auth(opts: Options, env: dict[str, str]) -> tuple[dict[str, str], str]:
    """Authorization headers to send, and how the key was got: every request pays for its key check."""
    key, how = (opts.api_key, "bearer key from --api-key") if opts.api_key else create_key(env)
    return {"Authorization": f"Bearer {key}"}, how


class Server:
    """`carbon serve` as a child process; output to a log file, since an unread pipe could stall it."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        command = [str(CARBON_SCRIPT), "serve", "--host", HOST, "--port", str(self.port)]
        self.process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )

    def tail(self, chars: int = 3000) -> str:
        """The end of the server's output, for failure messages."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def log_problems(self) -> int:
        """Lines of the server log that look like errors (tracebacks, ERROR records)."""
        text = self.log_path.read_text(errors="replace")
        return sum(("ERROR" in line or "Traceback" in line) for line in text.splitlines())

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Poll GET /readyz until 200; the seconds it took. Fails with the log if the server exits."""
        start = time.monotonic()
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() - start < timeout:
                if self.process.poll() is not None:
                    raise RuntimeError(f"carbon serve exited with {self.process.returncode}:\n{self.tail()}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return time.monotonic() - start
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"carbon serve was not ready within {timeout} s:\n{self.tail()}")

    def cpu_seconds(self) -> float | None:
        """User + system CPU the server has used so far (/proc/<pid>/stat), None once it is gone."""
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float | None:
        """VmRSS of the server process in MiB, None once it is gone."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return None

    def terminate(self) -> dict[str, Any]:
        """SIGTERM and wait: exit code, seconds, and whether uvicorn finished its shutdown."""
        start = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=10)
        seconds = time.monotonic() - start
        finished = "Application shutdown complete" in self.tail(100_000)
        # `carbon serve` exits 0 once uvicorn has drained the requests in flight
        clean = code == 0 and finished
        return {"exit_code": code, "seconds": round(seconds, 3), "shutdown_complete_logged": finished,
                "clean": clean}  # fmt: skip

    def close(self) -> None:
        """Kill if still running and close the log: for `finally` blocks."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


# --- sampling RSS ----------------------------------------------------------------------------------------


@contextmanager
def rss_sampler(server: Server, t0: float, into: list[tuple[float, float]]) -> Iterator[None]:
    """Samples (seconds from t0, MiB) once a second on a fixed tick while the block runs."""
    stop = threading.Event()

    def sample() -> None:
        tick = time.monotonic()
        while not stop.is_set():
            mib = server.rss_mib()
            if mib is not None:
                into.append((time.monotonic() - t0, mib))
            tick += 1.0
            stop.wait(max(0.0, tick - time.monotonic()))

    thread = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


# --- the clients -----------------------------------------------------------------------------------------


def send(http: httpx.Client, run: Run, n: int, due: float, body: bytes) -> Sample:
    """POST one batch under a fresh Idempotency-Key; a transport error or a non-2xx is an error sample."""
    headers = {"Idempotency-Key": f"{run.token}-{n}"}
    sample = Sample(n=n, due=due, sent=time.monotonic() - run.t0)
    try:
        response = http.post("/v1/loan-batches", params={"unit": "mgCO2e"}, content=body, headers=headers)
    except httpx.HTTPError as exc:
        sample.done = time.monotonic() - run.t0
        sample.error = f"{type(exc).__name__}: {exc}"
        return sample
    sample.done = time.monotonic() - run.t0
    sample.status = response.status_code
    if not sample.ok:
        sample.error = response.text[:300]
        return sample
    result = response.json()
    sample.mg = Fraction(result["avoided"]["value"])
    sample.loans_counted = int(result["loans_counted"])
    sample.duplicates = len(result["duplicates"])
    sample.entry_id = result["entry_id"]
    return sample


def client_loop(run: Run, client: int) -> None:
    """Requests client, client + clients, ... each at its due time; late ones go at once, never early."""
    opts = run.opts
    headers = {**run.headers, "Content-Type": "application/json"}
    mine: list[Sample] = []
    missed = 0
    with httpx.Client(base_url=run.base_url, headers=headers, timeout=REQUEST_TIMEOUT) as http:
        schedule = range(client, math.ceil(opts.duration * opts.rate), opts.clients)
        for i, n in enumerate(schedule):
            due = n / opts.rate
            body = body_for(run.template, n)  # built while waiting, outside the timed part
            wait = run.t0 + due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if time.monotonic() - run.t0 >= opts.duration:
                missed = len(schedule) - i  # due inside the run, but it was over before this client got there
                break
            mine.append(send(http, run, n, due, body))
    with run.lock:
        run.samples.extend(mine)
        run.missed += missed


def run_clients(run: Run) -> None:
    """All clients on one shared start time, until each has passed the end of the schedule."""
    threads = [
        threading.Thread(target=client_loop, args=(run, c), name=f"client-{c}")
        for c in range(run.opts.clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# --- figures ---------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def ms(seconds: float | None) -> float | None:
    """Seconds to milliseconds, rounded for the report."""
    return None if seconds is None else round(seconds * 1000, 1)


def slope_per_minute(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MiB) in MiB per minute: near zero means flat memory."""
    if len(points) < 2:
        return None
    mean_t = sum(t for t, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    cov = sum((t - mean_t) * (y - mean_y) for t, y in points)
    return cov / var * 60


def load_figures(run: Run) -> dict[str, Any]:
    """Counts over the whole run; throughput, latency and lateness over the post-warm-up window only."""
    opts = run.opts
    samples = run.samples
    measured = [s for s in samples if s.due >= opts.warmup]
    measured_ok = [s for s in measured if s.ok]
    # from the first measured slot to the last answer (at least the scheduled end): a lagging server shows
    start = min((s.due for s in measured), default=opts.warmup)
    window = max([opts.duration, *(s.done for s in measured_ok)]) - start
    latencies = [s.done - s.sent for s in measured_ok]
    lateness = [max(0.0, s.sent - s.due) for s in measured]
    batches_per_s = len(measured_ok) / window
    errors = [s for s in samples if not s.ok]
    return {
        "requests_scheduled": math.ceil(opts.duration * opts.rate),
        "requests_sent": len(samples),
        "missed_end_of_run": run.missed,
        "status_counts": dict(sorted(Counter(str(s.status or "transport-error") for s in samples).items())),
        "successes": len(samples) - len(errors),
        "errors": len(errors),
        "error_examples": [{"n": s.n, "status": s.status, "error": s.error} for s in errors[:5]],
        "duplicates_reported": sum(s.duplicates for s in samples),
        "measured_window_s": round(window, 3),
        "measured_requests": len(measured),
        "throughput_batches_per_s": round(batches_per_s, 2),
        "throughput_loans_per_s": round(batches_per_s * opts.loans, 1),
        "latency_ms": {f"p{q}": ms(percentile(latencies, q)) for q in (50, 90, 99)}
        | {
            "max": ms(max(latencies, default=None)),
            "mean": ms(sum(latencies) / len(latencies) if latencies else None),
        },
        "lateness_ms": {
            "p50": ms(percentile(lateness, 50)),
            "p99": ms(percentile(lateness, 99)),
            "max": ms(max(lateness, default=None)),
        },
    }


def rss_figures(points: list[tuple[float, float]], warmup: float, duration: float) -> dict[str, Any]:
    """RSS at the start and end of the measured window, its growth and its least-squares slope."""
    window = [(t, mib) for t, mib in points if warmup <= t <= duration]
    if not window:
        return {"samples": len(points), "start_mib": None, "end_mib": None, "growth_mib": None,
                "slope_mib_per_min": None, "peak_mib": None, "series": points}  # fmt: skip
    slope = slope_per_minute(window)
    return {
        "samples": len(window),
        "start_mib": round(window[0][1], 1),
        "end_mib": round(window[-1][1], 1),
        "growth_mib": round(window[-1][1] - window[0][1], 1),
        "slope_mib_per_min": None if slope is None else round(slope, 3),
        "peak_mib": round(max(mib for _, mib in points), 1),
        "series": [(round(t, 2), round(mib, 2)) for t, mib in points],
    }


# --- the ledger check ------------------------------------------------------------------------------------


def avoided_totals(http: httpx.Client) -> tuple[Fraction, int]:
    """The avoided book's total (mg) and line count, as GET /v1/totals says."""
    response = http.get("/v1/totals", params={"book": "avoided", "unit": "mgCO2e"})
    response.raise_for_status()
    [book] = response.json()["totals"]
    return Fraction(book["amount"]["value"]), int(book["lines"])


def our_entries(http: httpx.Client, token: str) -> Iterator[dict[str, Any]]:
    """Every ledger entry whose batch id is one of this run's, paging GET /v1/ledger/entries."""
    params: dict[str, Any] = {"limit": 500, "unit": "mgCO2e"}
    while True:
        response = http.get("/v1/ledger/entries", params=params)
        response.raise_for_status()
        page = response.json()
        yield from (e for e in page["data"] if e["client_reference"].startswith(f"{token}-b"))
        if not page["has_more"] or not page["data"]:
            return
        params["starting_after"] = page["data"][-1]["entry_id"]


def ledger_check(http: httpx.Client, run: Run, before: tuple[Fraction, int]) -> dict[str, Any]:
    """The ledger against the acknowledged responses: same entries, loans and mg; nothing lost or doubled."""
    acked = [s for s in run.samples if s.ok]
    entries = list(our_entries(http, run.token))
    after = avoided_totals(http)
    quantity = sum(int(Fraction(line["quantity"]["value"])) for e in entries for line in e["lines"])
    found = {
        "entries": len(entries),
        "distinct_batches": len({e["client_reference"] for e in entries}),
        "loans": quantity,
        "mg_entries": str(sum((Fraction(e["amount"]["value"]) for e in entries), Fraction(0))),
        "mg_totals_delta": str(after[0] - before[0]),
        "lines_totals_delta": after[1] - before[1],
    }
    expected = {
        "entries": len(acked),
        "distinct_batches": len(acked),
        "loans": sum(s.loans_counted for s in acked),
        "mg_entries": str(sum((s.mg for s in acked), Fraction(0))),
        "mg_totals_delta": str(sum((s.mg for s in acked), Fraction(0))),
        "lines_totals_delta": sum(len(e["lines"]) for e in entries),
    }
    same_ids = {e["entry_id"] for e in entries} == {s.entry_id for s in acked}
    every_loan = expected["loans"] == len(acked) * run.opts.loans
    agrees = found == expected and same_ids and every_loan
    return {"agrees": agrees, "same_entry_ids": same_ids, "every_loan_counted": every_loan,
            "found": found, "expected": expected}  # fmt: skip


# --- the run ---------------------------------------------------------------------------------------------


def drive(server: Server, run: Run, rss: list[tuple[float, float]]) -> dict[str, Any]:
    """Totals before, the load with RSS sampling, the ledger check after: the part that needs the server."""
    with httpx.Client(base_url=server.base_url, headers=run.headers, timeout=REQUEST_TIMEOUT) as http:
        before = avoided_totals(http)
        run.t0 = time.monotonic() + 0.2  # every client starts on the same tick
        server_cpu, own_cpu = server.cpu_seconds() or 0.0, time.process_time()
        with rss_sampler(server, run.t0, rss):
            run_clients(run)
        elapsed = time.monotonic() - run.t0
        cpu = {"server_cpu_s": round((server.cpu_seconds() or 0.0) - server_cpu, 2),
               "load_generator_cpu_s": round(time.process_time() - own_cpu, 2)}  # fmt: skip
        started = time.monotonic()
        ledger = ledger_check(http, run, before)
        ledger["check_seconds"] = round(time.monotonic() - started, 2)
    return {"load_seconds": round(elapsed, 2), "cpu_during_load": cpu, "ledger": ledger}


def run_load_test(opts: Options) -> dict[str, Any]:
    """Start the server, load it, check the ledger, stop it: the full summary as a dict."""
    token = f"lt{uuid.uuid4().hex[:10]}"
    template = body_template(token, opts.loans)
    with tempfile.TemporaryDirectory(prefix="carbon-load-") as tmp:
        env = server_env(Path(tmp), opts.database_url)
        headers, auth = resolve_auth(opts, env)
        server = Server(env, Path(tmp) / "server.log")
        try:
            ready = server.wait_ready()
            run = Run(opts, server.base_url, headers, template, token)
            rss: list[tuple[float, float]] = []
            driven = drive(server, run, rss)
            shutdown = server.terminate()
            log_problems = server.log_problems()
            tail = server.tail()
        finally:
            server.close()
    load = load_figures(run)
    ok = load["errors"] == 0 and driven["ledger"]["agrees"] and shutdown["clean"]
    return {
        "ok": ok,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items() if k != "api_key"},
        "auth": auth,
        "database": "CARBON_DATABASE_URL (given)" if opts.database_url else "SQLite in a fresh temporary dir",
        "body_bytes": len(template),
        "server": {"ready_seconds": round(ready, 2), "log_error_lines": log_problems},
        "load_seconds": driven["load_seconds"],
        "cpu_during_load": driven["cpu_during_load"],
        "load": load,
        "rss": rss_figures(rss, opts.warmup, opts.duration),
        "ledger": driven["ledger"],
        "shutdown": shutdown,
        **({} if ok else {"server_log_tail": tail}),
    }


# --- the report ------------------------------------------------------------------------------------------


def markdown(summary: dict[str, Any]) -> str:
    """The headline figures as a two-column Markdown table."""
    load, rss, ledger, stop = summary["load"], summary["rss"], summary["ledger"], summary["shutdown"]
    o = summary["options"]
    lat, late, cpu = load["latency_ms"], load["lateness_ms"], summary["cpu_during_load"]
    rows = [
        ("run", f"{o['duration']} s, {o['clients']} clients, {o['rate']} batches/s, "
                f"{o['loans']} loans/batch, warm-up {o['warmup']} s"),
        ("auth / database", f"{summary['auth']} / {summary['database']}"),
        ("requests sent / scheduled", f"{load['requests_sent']} / {load['requests_scheduled']} "
                                      f"(missed at end: {load['missed_end_of_run']})"),
        ("status counts", ", ".join(f"{k}: {v}" for k, v in load["status_counts"].items())),
        ("errors", str(load["errors"])),
        ("throughput", f"{load['throughput_batches_per_s']} batches/s, "
                       f"{load['throughput_loans_per_s']} loans/s"),
        ("latency p50 / p90 / p99 / max", f"{lat['p50']} / {lat['p90']} / {lat['p99']} / {lat['max']} ms"),
        ("schedule lateness p50 / p99 / max", f"{late['p50']} / {late['p99']} / {late['max']} ms"),
        ("RSS start / end / peak", f"{rss['start_mib']} / {rss['end_mib']} / {rss['peak_mib']} MiB"),
        ("RSS growth / slope", f"{rss['growth_mib']} MiB / {rss['slope_mib_per_min']} MiB/min"),
        ("ledger agrees", f"{ledger['agrees']} ({ledger['found']['entries']} entries, "
                          f"{ledger['found']['loans']} loans, {ledger['found']['mg_totals_delta']} mg)"),
        ("shutdown", f"exit {stop['exit_code']} in {stop['seconds']} s, clean: {stop['clean']}"),
        ("CPU during load: server / load generator",
         f"{cpu['server_cpu_s']} s / {cpu['load_generator_cpu_s']} s of {summary['load_seconds']} s"),
        ("server log error lines", str(summary["server"]["log_error_lines"])),
        ("result", "OK" if summary["ok"] else "FAILED"),
    ]  # fmt: skip
    return "\n".join(["| metric | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table, write the JSON; exit 0 if clean, 1 on errors or a mismatch, 2 if it cannot run."""
    opts = parse_args(argv)
    try:
        summary = run_load_test(opts)
    except (RuntimeError, httpx.HTTPError) as exc:  # the server did not start or refused the key outright
        print(f"load test could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(markdown(summary))
    if not summary["ok"] and "server_log_tail" in summary:
        print("\nserver log (tail):\n" + summary["server_log_tail"], file=sys.stderr)
    if opts.json_path is not None:
        opts.json_path.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
