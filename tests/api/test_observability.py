"""Metrics, request ids, access logs and traces, on a small app of their own (no database needed)."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from carbon.api.logs import JsonFormatter, PlainFormatter, configure_logging, current_request_id
from carbon.api.observability import Metrics, install_observability
from carbon.api.problems import BodySizeLimit, install_problem_handlers
from carbon.errors import NotFoundError

ITEM = "/items/{item_id}"


def build_app(*, tracing: bool = False, tracer_provider: TracerProvider | None = None) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get(ITEM)
    def item(item_id: int) -> dict[str, Any]:
        return {"id": item_id, "request_id": current_request_id()}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/missing")
    async def missing() -> None:
        raise NotFoundError("no such thing")

    @app.post("/echo")
    def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    @app.get("/whoami")
    def whoami(request: Request) -> dict[str, str]:
        request.state.key_prefix = "ck_live_ab12"
        request.state.tenant = "acme"
        return {}

    app.add_middleware(BodySizeLimit, limit=64)
    install_observability(app, json_logs=True, tracing=tracing, tracer_provider=tracer_provider)
    return app


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """install_observability configures the root logger; give other tests theirs back."""
    names = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
    loggers = {name: logging.getLogger(name) for name in names}
    saved = {name: (list(lg.handlers), lg.level, lg.propagate) for name, lg in loggers.items()}
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = loggers[name]
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(build_app()) as test_client:
        yield test_client


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the JSON formatter writes while the test runs (formatted as records are emitted)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def samples(client: TestClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called `name` in the app's exposition, keyed by their sorted labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def labels(**kw: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kw.items()))


# metrics


def test_requests_are_counted_by_route_template_and_status(client: TestClient) -> None:
    for item_id in range(5):
        assert client.get(f"/items/{item_id}").status_code == 200
    assert client.get("/items/not-a-number").status_code == 422
    assert client.get("/missing").status_code == 404
    assert client.get("/boom").status_code == 500
    assert client.get("/no/such/path").status_code == 404
    assert client.post("/items/1").status_code == 405

    counts = samples(client, "carbon_http_requests_total")
    assert counts[labels(method="GET", route=ITEM, status="200")] == 5
    assert counts[labels(method="GET", route=ITEM, status="422")] == 1
    assert counts[labels(method="GET", route="/missing", status="404")] == 1
    assert counts[labels(method="GET", route="/boom", status="500")] == 1
    assert counts[labels(method="GET", route="unmatched", status="404")] == 1
    assert counts[labels(method="POST", route=ITEM, status="405")] == 1
    assert not any("/items/1" in value for key in counts for _, value in key), "raw paths never become labels"


def test_latency_histogram_counts_every_request(client: TestClient) -> None:
    for item_id in range(3):
        client.get(f"/items/{item_id}")
    counts = samples(client, "carbon_http_request_duration_seconds_count")
    assert counts[labels(method="GET", route=ITEM)] == 3
    buckets = samples(client, "carbon_http_request_duration_seconds_bucket")
    assert buckets[labels(method="GET", route=ITEM, le="+Inf")] == 3
    assert labels(method="GET", route=ITEM, le="0.001") in buckets
    assert labels(method="GET", route=ITEM, le="30.0") in buckets
    assert samples(client, "carbon_http_request_duration_seconds_sum")[labels(method="GET", route=ITEM)] > 0


def test_nothing_is_in_flight_between_requests(client: TestClient) -> None:
    client.get("/items/1")
    client.get("/boom")
    # the scrape itself is the one request in flight while it renders
    assert samples(client, "carbon_http_requests_in_flight") == {(): 1.0}


def test_unknown_methods_are_folded_into_one_label(client: TestClient) -> None:
    client.request("BREW", "/items/1")
    client.request("BREW-2", "/items/1")
    counts = samples(client, "carbon_http_requests_total")
    assert counts == {labels(method="OTHER", route=ITEM, status="405"): 2}


def test_metrics_endpoint_speaks_prometheus_text_and_is_not_documented(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_two_apps_do_not_share_counters() -> None:
    with TestClient(build_app()) as first, TestClient(build_app()) as second:
        for _ in range(3):
            first.get("/items/1")
        second.get("/missing")
        assert (
            samples(first, "carbon_http_requests_total")[labels(method="GET", route=ITEM, status="200")] == 3
        )
        assert labels(method="GET", route=ITEM, status="200") not in samples(
            second, "carbon_http_requests_total"
        )
        assert labels(method="GET", route="/missing", status="404") not in samples(
            first, "carbon_http_requests_total"
        )


def test_domain_metrics() -> None:
    metrics = Metrics(business_totals=True)
    metrics.ledger_write("loan_batch", loans=3, milligrams=1_500, book="avoided")
    metrics.ledger_write("loan_batch", loans=2, milligrams=500)
    metrics.ledger_write("activity", milligrams=7_000, book="inventory")
    metrics.ledger_write("reversal")
    metrics.job_rows(250)
    metrics.set_jobs({"running": 1, "queued": 4})

    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }
    assert found["carbon_ledger_writes_total", labels(kind="loan_batch")] == 2
    assert found["carbon_ledger_writes_total", labels(kind="activity")] == 1
    assert found["carbon_ledger_writes_total", labels(kind="reversal")] == 1
    assert found["carbon_loans_counted_total", ()] == 5
    assert found["carbon_recorded_grams_total", labels(book="avoided")] == 2.0
    assert found["carbon_recorded_grams_total", labels(book="inventory")] == 7.0
    assert found["carbon_jobs_rows_processed_total", ()] == 250
    assert found["carbon_jobs", labels(state="running")] == 1
    assert found["carbon_jobs", labels(state="queued")] == 4
    assert found["carbon_jobs_finished_total", labels(state="succeeded")] == 0
    assert found["carbon_jobs_finished_total", labels(state="failed")] == 0
    assert not [name for name, _ in found if name.endswith("_created")]

    metrics.set_jobs({"running": 1})
    metrics.job_finished("succeeded")
    assert metrics.jobs.labels(state="queued")._value.get() == 0
    assert metrics.jobs_finished.labels(state="succeeded")._value.get() == 1


def test_business_totals_are_left_out_unless_asked_for() -> None:
    metrics = Metrics()
    metrics.ledger_write("loan_batch", loans=3, milligrams=1_500, book="avoided")
    names = {family.name for family in text_string_to_metric_families(metrics.render()[0].decode())}
    assert "carbon_ledger_writes" in names
    assert not names & {"carbon_loans_counted", "carbon_recorded_grams"}


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.ledger_write("activity", book="scope3"),
        lambda m: m.ledger_write("reversal", milligrams=-5),
        lambda m: m.ledger_write("loan_batch", loans=-1),
        lambda m: m.job_rows(-1),
    ],
)
def test_domain_metrics_refuse_what_a_counter_cannot_mean(call: Any) -> None:
    with pytest.raises(ValueError):
        call(Metrics())


# request ids


def test_a_valid_request_id_is_echoed_and_seen_by_the_route(client: TestClient) -> None:
    response = client.get("/items/7", headers={"X-Request-ID": "abc.DEF_1:2-3"})
    assert response.headers["x-request-id"] == "abc.DEF_1:2-3"
    assert response.json()["request_id"] == "abc.DEF_1:2-3"


@pytest.mark.parametrize(
    "sent",
    [
        b"x" * 129,
        b"has space",
        b"tab\there",
        b"new\nline",
        b"cr\r\nX-Evil: 1",
        "ünïcode".encode(),
        b"a/b",
        b"",
    ],
)
def test_an_unsafe_request_id_is_replaced(client: TestClient, sent: bytes) -> None:
    response = client.get("/items/7", headers={"X-Request-ID": sent})
    echoed = response.headers["x-request-id"]
    assert echoed.encode() != sent
    assert "x-evil" not in response.headers
    assert len(echoed) == 32
    int(echoed, 16)


def test_a_request_id_is_generated_when_none_is_sent(client: TestClient) -> None:
    first = client.get("/items/1").headers["x-request-id"]
    second = client.get("/items/1").headers["x-request-id"]
    assert first != second
    assert client.get("/items/1", headers={"X-Request-ID": "x" * 128}).headers["x-request-id"] == "x" * 128


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/no/such/path", 404),
        ("GET", "/missing", 404),
        ("GET", "/items/nope", 422),
        ("POST", "/items/1", 405),
        ("GET", "/boom", 500),
        ("POST", "/echo", 413),
    ],
)
def test_error_responses_carry_the_request_id(
    client: TestClient, method: str, path: str, status: int
) -> None:
    body = {"padding": "x" * 100} if path == "/echo" else None
    response = client.request(method, path, json=body, headers={"X-Request-ID": "trace-me"})
    assert response.status_code == status
    assert response.headers["x-request-id"] == "trace-me"
    assert response.headers["content-type"] == "application/problem+json"


def test_an_unexpected_error_is_a_500_problem_not_an_exception_in_the_server(client: TestClient) -> None:
    # TestClient re-raises what reaches the server; the middleware answered it instead
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.json()["detail"] == "internal error; nothing was recorded"


def test_the_request_id_does_not_leak_out_of_the_request(client: TestClient) -> None:
    client.get("/items/1", headers={"X-Request-ID": "inside"})
    assert current_request_id() is None


# logs


def test_one_access_line_per_request_as_json(client: TestClient, json_lines: io.StringIO) -> None:
    client.get("/items/3", headers={"X-Request-ID": "req-1", "Authorization": "Bearer s3cret-key"})
    client.get("/missing", headers={"X-Request-ID": "req-2"})
    access = [line for line in parsed(json_lines) if line["logger"] == "carbon.access"]
    assert [(a["request_id"], a["route"], a["status"], a["method"]) for a in access] == [
        ("req-1", ITEM, 200, "GET"),
        ("req-2", "/missing", 404, "GET"),
    ]
    first = access[0]
    assert first["level"] == "INFO"
    assert first["ts"].endswith("Z")
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert round(first["duration_ms"], 3) == first["duration_ms"]
    assert "s3cret-key" not in json_lines.getvalue()
    assert "key_prefix" not in first and "tenant" not in first


def test_the_access_line_names_the_key_prefix_and_tenant_auth_left(
    client: TestClient, json_lines: io.StringIO
) -> None:
    client.get("/whoami")
    (access,) = [line for line in parsed(json_lines) if line["logger"] == "carbon.access"]
    assert access["key_prefix"] == "ck_live_ab12"
    assert access["tenant"] == "acme"


def test_an_unexpected_error_is_logged_once_with_its_request_id(
    client: TestClient, json_lines: io.StringIO
) -> None:
    client.get("/boom", headers={"X-Request-ID": "req-500"})
    lines = parsed(json_lines)
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "req-500"
    assert "RuntimeError: boom" in errors[0]["exc"]
    (access,) = [line for line in lines if line["logger"] == "carbon.access"]
    assert (access["status"], access["route"], access["request_id"]) == (500, "/boom", "req-500")


def test_json_formatter_on_a_record() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord("carbon.x", logging.WARNING, __file__, 1, "n=%d", (3,), sys.exc_info())
    record.fields = {"tenant": "acme", "level": "not overridden"}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "carbon.x"
    assert entry["message"] == "n=3"
    assert entry["tenant"] == "acme"
    assert "request_id" not in entry
    assert "ValueError: bad" in entry["exc"]
    assert entry["ts"][10] == "T" and entry["ts"].endswith("Z")


def test_plain_formatter_keeps_the_fields() -> None:
    record = logging.LogRecord("carbon.x", logging.INFO, __file__, 1, "hello", (), None)
    record.fields = {"status": 200}
    assert PlainFormatter().format(record).endswith("carbon.x: hello status=200")


def test_configure_logging_is_idempotent_and_takes_over_uvicorn() -> None:
    configure_logging(json_logs=True)
    configure_logging(json_logs=False, level="warning")
    configure_logging(json_logs=True)
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h.formatter, JsonFormatter | PlainFormatter)]
    assert len(ours) == 1
    assert isinstance(ours[0].formatter, JsonFormatter)
    assert root.level == logging.INFO
    error = logging.getLogger("uvicorn.error")
    assert error.propagate and not error.handlers and logging.getLogger("uvicorn").propagate
    access = logging.getLogger("uvicorn.access")
    assert not access.propagate
    assert all(isinstance(h, logging.NullHandler) for h in access.handlers)


# traces


def test_tracing_produces_a_span_per_request() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with TestClient(build_app(tracing=True, tracer_provider=provider)) as client:
        client.get("/items/5")
        client.get("/boom")
    servers = [span for span in exporter.get_finished_spans() if span.parent is None]
    assert [span.attributes["http.route"] for span in servers if span.attributes] == [ITEM, "/boom"]
    failed = servers[1]
    assert failed.attributes is not None and failed.attributes.get("http.status_code") == 500
    assert any(event.name == "exception" for event in failed.events)
    provider.shutdown()


def test_tracing_without_the_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.fastapi", None)
    with pytest.raises(RuntimeError, match=r"carbon-ledger\[otel\]"):
        install_observability(FastAPI(), json_logs=False, tracing=True)


def test_tracing_is_off_by_default(client: TestClient) -> None:
    assert not getattr(client.app, "_is_instrumented_by_opentelemetry", False)
