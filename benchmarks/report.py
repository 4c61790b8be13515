"""Turn a pytest-benchmark JSON file into the tables of benchmarks/README.md (medians and ratios).

python -m benchmarks.report results.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

TARGETS = {
    "ours_vs_polars": 2.0,  # ours at least 2x faster than a polars group-by
    "ours_vs_floor": 5.0,  # ours within 5x of the numpy floor
    "csv_rows_per_s": 8e6,
    "ndjson_rows_per_s": 3e6,
    "year_seconds": 15.0,
    "year_rss_bytes": 2 * 1024**3,
    "http_vs_naive": 4.0,
}


def load(path: Path) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    data = json.loads(path.read_text())
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for bench in data["benchmarks"]:
        groups[bench["group"]].append(bench)
    return groups, data.get("machine_info", {})


def med(bench: dict[str, Any]) -> float:
    return float(bench["stats"]["median"])


def by_method(benches: list[dict[str, Any]], key: str = "method") -> dict[str, dict[str, Any]]:
    return {b["extra_info"][key]: b for b in benches}


def fmt_time(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def inmemory(benches: list[dict[str, Any]]) -> list[str]:
    methods = by_method(benches)
    rows = methods["ours"]["extra_info"]["rows"]
    ours = med(methods["ours"])
    floor = med(methods["numpy_floor"])
    out = [
        f"#### In memory, {rows:,} loans",
        "",
        "| method | median | loans/s | x ours time | x floor time |",
        "|---|---:|---:|---:|---:|",
    ]
    for method, bench in sorted(
        methods.items(), key=lambda kv: med(kv[1]) * kv[1]["extra_info"].get("scale", 1)
    ):
        time = med(bench) * bench["extra_info"].get("scale", 1)
        label = method + (" (20k sample, scaled)" if "scale" in bench["extra_info"] else "")
        out.append(
            f"| {label} | {fmt_time(time)} | {rows / time:,.0f} | {time / ours:.2f} | {time / floor:.1f} |"
        )
    polars = med(methods["polars_groupby"])
    out += [
        "",
        f"- ours vs polars group-by: {polars / ours:.1f}x faster (target >= {TARGETS['ours_vs_polars']}x).",
        f"- ours vs numpy floor: {ours / floor:.1f}x the floor's time "
        f"(target <= {TARGETS['ours_vs_floor']}x).",
        "",
    ]
    return out


def files(benches: list[dict[str, Any]]) -> list[str]:
    methods = by_method(benches)
    first = next(iter(methods.values()))["extra_info"]
    rows, fmt = first["rows"], first["format"]
    ours = med(methods["ours_stateless"])
    out = [
        f"#### {fmt.upper()} file, {rows:,} loans, {first['file_bytes'] / 1e6:,.0f} MB",
        "",
        "| method | median | rows/s | x ours (stateless) time |",
        "|---|---:|---:|---:|",
    ]
    for method, bench in sorted(methods.items(), key=lambda kv: med(kv[1])):
        out.append(
            f"| {method} | {fmt_time(med(bench))} | {rows / med(bench):,.0f} | {med(bench) / ours:.2f} |"
        )
    target = TARGETS.get(f"{fmt}_rows_per_s")
    if target:
        out += ["", f"- target {target / 1e6:.0f}M rows/s: stateless {rows / ours / 1e6:.2f}M rows/s, "
                f"with dedupe {rows / med(methods['ours_dedupe']) / 1e6:.2f}M rows/s."]  # fmt: skip
    return [*out, ""]


def year(benches: list[dict[str, Any]]) -> list[str]:
    methods = by_method(benches)
    out = [
        "#### Full 2021 year, 283,129,023 loans from Parquet",
        "",
        "| method | median inside the process | each round | peak RSS | total |",
        "|---|---:|---|---:|---|",
    ]
    for method, bench in methods.items():
        info = bench["extra_info"]
        rounds = ", ".join(f"{s:.1f}" for s in info["seconds_inside"])
        out.append(
            f"| {method} | {info['median_seconds_inside']:.1f} s | {rounds} | "
            f"{info['peak_rss_bytes'] / 2**30:.2f} GiB | {info['tCO2e']} tCO2e |"
        )
    return [*out, ""]


def http(benches: list[dict[str, Any]]) -> list[str]:
    methods = by_method(benches, "endpoint")
    naive = methods["naive_pydantic"]
    per = naive["extra_info"]["requests_per_round"]
    naive_rate = per / med(naive)
    out = [
        "#### Per-batch JSON endpoint, 1,000-loan batches (in process, sequential)",
        "",
        "| endpoint | median per request | requests/s | loans/s | x naive throughput |",
        "|---|---:|---:|---:|---:|",
    ]
    for endpoint, bench in sorted(methods.items(), key=lambda kv: med(kv[1])):
        rate = per / med(bench)
        out.append(
            f"| {endpoint} | {med(bench) / per * 1e3:.2f} ms | {rate:,.0f} | {rate * 1000:,.0f} | "
            f"{rate / naive_rate:.2f} |"
        )
    return [*out, ""]


def load_note(benches: list[dict[str, Any]]) -> list[str]:
    loads = [x for b in benches for x in b["extra_info"].get("loadavg_1m", [])]
    return (
        [f"(1-minute load average during this group: {min(loads):.2f} to {max(loads):.2f})", ""]
        if loads
        else []
    )


def main() -> None:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    machine: dict[str, Any] = {}
    for path in sys.argv[1:]:  # several runs (one per suite) may be merged; groups never span files
        more, machine = load(Path(path))
        for name, benches in more.items():
            groups[name] = benches
    lines: list[str] = []
    info = machine.get("carbon", {})
    if info:
        lines += [f"Machine: {info['nproc']} cores, {info['cpu_model']}, {info['mem_total']}; load average "
                  f"{info['loadavg_at_start']} at start, {info['loadavg_at_end']} at end.", ""]  # fmt: skip
    for name in sorted(groups, key=lambda g: (g.split("-")[0], len(g), g)):
        if name.startswith("inmemory"):
            lines += inmemory(groups[name])
        elif name.startswith("file"):
            lines += files(groups[name])
        elif name.startswith("year"):
            lines += year(groups[name])
        elif name.startswith("http"):
            lines += http(groups[name])
        lines += load_note(groups[name])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
