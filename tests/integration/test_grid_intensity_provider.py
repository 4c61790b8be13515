"""The grid-intensity provider against a real HTTP server on 127.0.0.1 (and httpx.MockTransport where no
socket is needed): timeouts, 5xx with retries and backoff, malformed data as a clear error, the cache."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from carbon.adapters.grid_intensity import GridIntensityProvider, parse_series
from carbon.errors import RequestError, UpstreamError

T0 = datetime(2026, 11, 22, tzinfo=UTC)
END = T0 + timedelta(hours=3)


def series_json(values: list[str], unit: str = "gCO2e/kWh", step: timedelta = timedelta(hours=1)) -> bytes:
    points = [{"start": (T0 + i * step).isoformat(), "intensity": v} for i, v in enumerate(values)]
    return json.dumps({"unit": unit, "region": "CN", "points": points}).encode()


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0


@dataclass
class FakeProvider:
    """A scripted HTTP server: each request gets the next answer (the last one repeats)."""

    answers: list[Answer] = field(default_factory=list)
    seen: list[dict[str, list[str]]] = field(default_factory=list)
    url: str = ""

    def next(self, query: str) -> Answer:
        self.seen.append(parse_qs(query))
        return self.answers[min(len(self.seen), len(self.answers)) - 1]


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    script = FakeProvider()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = script.next(urlparse(self.path).query)
            time.sleep(answer.delay)
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    script.url = f"http://127.0.0.1:{server.server_address[1]}/v1/intensity?token=secret"
    try:
        yield script
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def provider(url: str, sleeps: list[float], **options: object) -> GridIntensityProvider:
    settings: dict[str, object] = {"timeout": 2.0, "retries": 2, "backoff": 0.25, **options}
    return GridIntensityProvider(url, sleep=sleeps.append, **settings)  # type: ignore[arg-type]


def test_a_good_answer_is_parsed_and_cached(fake: FakeProvider) -> None:
    fake.answers = [Answer(body=series_json(["530.6", "480", "410.25"]))]
    now = [0.0]
    client = GridIntensityProvider(fake.url, cache_seconds=60, clock=lambda: now[0])
    series = client.fetch("CN", T0, END)
    assert series.values == (Fraction("530.6"), Fraction(480), Fraction("410.25"))
    assert (series.unit, series.region, series.step) == ("gCO2e/kWh", "CN", timedelta(hours=1))
    assert fake.seen == [
        {"token": ["secret"], "region": ["CN"], "start": [T0.isoformat()], "end": [END.isoformat()]}
    ]
    assert client.fetch("CN", T0, END) is series  # from the cache
    assert client.requests_made == 1
    now[0] = 61.0  # the cached answer expired
    client.fetch("CN", T0, END)
    assert client.requests_made == 2


def test_csv_answers_are_read_too(fake: FakeProvider) -> None:
    csv = b"start,intensity,unit\n2026-11-22T00:00:00Z,0.5306,kgCO2/kWh\n2026-11-22T00:30:00Z,0.5,kgCO2/kWh\n"
    fake.answers = [Answer(body=csv, content_type="text/csv; charset=utf-8")]
    series = GridIntensityProvider(fake.url).fetch("CN", T0, END)
    assert series.values == (Fraction("0.5306"), Fraction("0.5")) and series.step == timedelta(minutes=30)


def test_5xx_is_retried_with_exponential_backoff(fake: FakeProvider) -> None:
    fake.answers = [Answer(status=503), Answer(status=500), Answer(body=series_json(["1"]))]
    sleeps: list[float] = []
    client = provider(fake.url, sleeps)
    assert client.fetch("CN", T0, END).values == (Fraction(1),)
    assert (client.requests_made, sleeps) == (3, [0.25, 0.5])


def test_5xx_to_the_end_is_an_upstream_error_naming_the_attempts(fake: FakeProvider) -> None:
    fake.answers = [Answer(status=503)]
    sleeps: list[float] = []
    with pytest.raises(UpstreamError) as raised:
        provider(fake.url, sleeps).fetch("CN", T0, END)
    assert raised.value.attempts == 3 and len(fake.seen) == 3
    assert str(raised.value).endswith("answered 503 (3 attempt(s))")
    assert "secret" not in str(raised.value)  # the query (which may hold a token) is never shown


def test_a_timeout_is_retried_then_reported(fake: FakeProvider) -> None:
    fake.answers = [Answer(body=series_json(["1"]), delay=1.0)]
    sleeps: list[float] = []
    started = time.monotonic()
    with pytest.raises(UpstreamError, match=r"timed out after 0\.2 s \(2 attempt\(s\)\)"):
        provider(fake.url, sleeps, timeout=0.2, retries=1).fetch("CN", T0, END)
    assert time.monotonic() - started < 1.5  # did not wait for the slow answers
    assert sleeps == [0.25]


def test_a_slow_first_answer_then_a_good_one(fake: FakeProvider) -> None:
    fake.answers = [Answer(body=series_json(["1"]), delay=0.6), Answer(body=series_json(["2"]))]
    series = provider(fake.url, [], timeout=0.2).fetch("CN", T0, END)
    assert series.values == (Fraction(2),)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (Answer(body=b"{not json"), "not valid JSON"),
        (Answer(body=b'{"points": []}'), '"unit"'),
        (Answer(body=series_json(["1", "abc"])), "point 1: intensity"),
        (Answer(body=series_json(["-1"])), "point 0: intensity amount must not be negative"),
        (Answer(body=series_json(["1", "2"], step=timedelta(hours=2))), "at most an hour"),
        (Answer(body=series_json(["1"], unit="gCO2e/loan")), "expected a quantity of CO2e mass per energy"),
        (Answer(body=b"start,intensity\n2026-11-22T00:00:00Z,1\n", content_type="text/csv"), "header"),
    ],
)
def test_malformed_data_is_a_clear_upstream_error_and_not_retried(
    fake: FakeProvider, answer: Answer, message: str
) -> None:
    fake.answers = [answer]
    with pytest.raises(UpstreamError, match="sent malformed data") as raised:
        provider(fake.url, []).fetch("CN", T0, END)
    assert message in str(raised.value)
    assert len(fake.seen) == 1


def test_a_4xx_is_not_retried(fake: FakeProvider) -> None:
    fake.answers = [Answer(status=404, body=b"no such region")]
    with pytest.raises(UpstreamError, match="answered 404"):
        provider(fake.url, []).fetch("XX", T0, END)
    assert len(fake.seen) == 1


def test_connection_errors_are_retried_then_reported() -> None:
    attempts: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    sleeps: list[float] = []
    client = GridIntensityProvider(
        "http://grid.example/api",
        retries=3,
        backoff=0.1,
        sleep=sleeps.append,
        transport=httpx.MockTransport(refuse),
    )
    with pytest.raises(UpstreamError, match=r"could not be reached \(ConnectError\) \(4 attempt\(s\)\)"):
        client.fetch("CN", T0, END)
    assert len(attempts) == 4 and sleeps == [0.1, 0.2, 0.4]


def test_a_connection_error_then_an_answer_through_mock_transport() -> None:
    calls: Iterator[Exception | httpx.Response] = iter(
        [httpx.ConnectError("down"), httpx.Response(200, content=series_json(["7.5"]))]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    client = GridIntensityProvider(
        "http://grid.example/api", sleep=lambda _: None, transport=httpx.MockTransport(handler)
    )
    assert client.fetch("CN", T0, END).values == (Fraction("7.5"),)


def test_uploaded_series_errors_name_the_line() -> None:
    bad = "start,intensity,unit\n2026-11-22T00:00:00Z,1,gCO2e/kWh\n2026-11-22T01:00:00,1,gCO2e/kWh\n"
    with pytest.raises(RequestError, match="line 3: start .* has no time zone"):
        parse_series(bad, "csv")
    mixed = "start,intensity,unit\n2026-11-22T00:00:00Z,1,gCO2e/kWh\n2026-11-22T01:00:00Z,1,kgCO2/kWh\n"
    with pytest.raises(RequestError, match="one unit"):
        parse_series(mixed, "csv")
    with pytest.raises(RequestError, match="line 2: 2 cells"):
        parse_series("start,intensity,unit\n2026-11-22T00:00:00Z,1\n", "csv")
    with pytest.raises(RequestError, match="point 0: start 'yesterday'"):
        parse_series(b'{"unit": "gCO2e/kWh", "points": [{"start": "yesterday", "intensity": 1}]}', "json")
    with pytest.raises(RequestError, match="unknown series format"):
        parse_series("", "xml")
    with pytest.raises(RequestError, match="UTF-8"):
        parse_series(b"\xff\xfe", "csv")
    numbers = parse_series(
        b'{"unit": "gCO2e/kWh", "points": [{"start": "2026-11-22T00:00:00Z", "intensity": 0.1}]}', "json"
    )
    assert numbers.values == (Fraction("0.1"),)  # a JSON number is read as its decimal text, never a float


def test_callers_whose_clocks_differ_share_the_providers_hours(fake: FakeProvider) -> None:
    fake.answers = [Answer(body=series_json(["530.6", "480", "410.25"]))]
    client = GridIntensityProvider(fake.url, cache_seconds=300)
    first = client.fetch("CN", T0 + timedelta(seconds=1), END - timedelta(minutes=20))
    for now in (timedelta(seconds=2), timedelta(minutes=17), timedelta(minutes=59, seconds=59)):
        assert client.fetch("CN", T0 + now, END - timedelta(minutes=20)) is first
    assert (
        client.fetch("CN", T0 + timedelta(minutes=5), END - timedelta(hours=1)) is first
    )  # a nearer deadline
    assert client.requests_made == 1
    assert fake.seen[0]["start"] == [T0.isoformat()] and fake.seen[0]["end"] == [END.isoformat()]
    assert client.fetch("CN", T0 + timedelta(hours=1, seconds=1), END) is first  # still within the period
    client.fetch("CN", T0 + timedelta(seconds=4), END + timedelta(minutes=1))  # a later deadline: more hours
    assert fake.seen[1]["end"] == [(END + timedelta(hours=1)).isoformat()]
    client.fetch("JP", T0 + timedelta(seconds=3), END)  # and another region another answer
    assert client.requests_made == 3


@pytest.mark.parametrize(
    "answer",
    [
        Answer(status=503),
        Answer(status=404),
        Answer(body=b"{not json"),
        Answer(body=series_json(["1"]), delay=1),
    ],
)
def test_a_failed_provider_is_not_named_to_the_client(
    fake: FakeProvider, answer: Answer, caplog: pytest.LogCaptureFixture
) -> None:
    fake.answers = [answer]
    caplog.set_level(logging.WARNING, logger="carbon.grid_intensity")
    with pytest.raises(UpstreamError) as raised:
        provider(fake.url, [], timeout=0.3, retries=1).fetch("CN", T0, END)
    assert str(raised.value).startswith("the grid-intensity provider ")
    assert "127.0.0.1" not in str(raised.value) and "/v1/intensity" not in str(raised.value)
    warned = [r.getMessage() for r in caplog.records if r.name == "carbon.grid_intensity"]
    assert "127.0.0.1" in warned[0] and "secret" not in warned[0]  # the operator's log says where
