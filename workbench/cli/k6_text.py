"""`k6 summary` as text the way k6's own end-of-test summary reads: thresholds first, then the metrics grouped
(CUSTOM, HTTP, EXECUTION, NETWORK...), durations and bytes with units, rates as "1.15% 93 out of 8050"; lines
wrap between statistics, never inside one."""

from __future__ import annotations

import click

from workbench.analysis.k6_summary import split_submetric

# k6's groups, in its order; a metric goes to the first group whose prefix or name it matches
GROUPS = [("CHECKS", ("checks",)), ("HTTP", ("http_",)), ("EXECUTION", ("iteration_duration", "iterations", "vus", "vus_max", "dropped_iterations",
                                               "group_duration")),
          ("NETWORK", ("data_received", "data_sent")), ("GRPC", ("grpc_",)), ("WEBSOCKETS", ("ws_",)),
          ("BROWSER", ("browser_",))]
TIME_BUILTINS = ("http_req_blocked", "http_req_connecting", "http_req_duration", "http_req_receiving",
                 "http_req_sending", "http_req_tls_handshaking", "http_req_waiting", "iteration_duration",
                 "group_duration", "grpc_req_duration", "ws_connecting", "ws_session_duration", "ws_ping")
DATA_BUILTINS = ("data_received", "data_sent")
NAME_WIDTH = 34


def group_of(metric: str) -> str:
    for group, names in GROUPS:
        if any(metric == n or (n.endswith("_") and metric.startswith(n)) for n in names):
            return group
    return "CUSTOM"


def duration(ms: float) -> str:
    """k6's duration text: 791ns, 3.73µs, 16.36ms, 1.23s, 1m5.2s."""
    if ms == 0:
        return "0s"
    a = abs(ms)
    if a < 0.001:
        return f"{ms * 1e6:.0f}ns"
    if a < 1:
        return f"{ms * 1e3:.2f}µs"
    if a < 1000:
        return f"{ms:.2f}ms"
    if a < 60_000:
        return f"{ms / 1000:.2f}s"
    m, s = divmod(ms / 1000, 60)
    return f"{m:.0f}m{s:.1f}s"


def data(n: float) -> str:
    """Bytes in SI units as k6 prints them: 4.7 MB, 135 kB, 812 B."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            v = n / size
            return f"{v:.1f} {unit}" if v < 10 else f"{v:.0f} {unit}"
    return f"{n:.0f} B"


def _num(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.6g}"


def value_parts(metric: str, entry: dict, contains: str | None) -> list[str]:
    """The statistics of one metric as k6 shows them, one string each."""
    base = split_submetric(metric)[0]
    unit = contains or ("time" if base in TIME_BUILTINS else "data" if base in DATA_BUILTINS else "default")
    show = duration if unit == "time" else data if unit == "data" else _num
    stats = {k: v for k, v in entry.items() if k != "thresholds" and v is not None}
    if "passes" in stats:        # a rate: the share of non-zero values, and how many of how many
        n = stats["passes"] + stats["fails"]
        return [f"{100 * stats.get('value', 0):.2f}%", f"{stats['passes']:,} out of {n:,}"]
    if set(stats) <= {"count", "rate"}:        # a counter
        rate = stats.get("rate")
        return [show(stats["count"])] + ([f"{show(rate)}/s" if unit != "default" else f"{rate:.2f}/s"]
                                         if rate is not None else [])
    if "value" in stats:          # a gauge
        return [show(stats["value"])] + [f"{k}={show(v)}" for k, v in stats.items() if k != "value"]
    return [f"{k}={_num(v) if k == 'count' else show(v)}" for k, v in stats.items()]   # a trend


def render(summary: dict, kinds: dict[str, tuple[str, str | None]], width: int) -> list[str]:
    """The summary's lines for a terminal WIDTH columns wide (80 in CI logs)."""
    lines: list[str] = []
    thresholds = [(m, e, v["ok"]) for m, entry in summary["metrics"].items()
                  for e, v in (entry.get("thresholds") or {}).items()]
    if thresholds:
        lines += ["THRESHOLDS"]
        for m, expr, ok in thresholds:
            lines.append(f"  {'✓' if ok else '✗'} {m}: '{expr}'")
        lines.append("")
    groups: dict[str, list[str]] = {}
    for metric in summary["metrics"]:
        groups.setdefault(group_of(split_submetric(metric)[0]), []).append(metric)
    order = ["CHECKS", "CUSTOM"] + [g for g, _ in GROUPS[1:]]
    for group in [g for g in order if g in groups]:
        lines.append(group)
        for metric in groups[group]:
            base, tags = split_submetric(metric)
            label = (f"    {{ {', '.join(f'{k}:{v}' for k, v in tags.items())} }}" if tags else f"  {metric}")
            parts = value_parts(metric, summary["metrics"][metric], (kinds.get(base) or (None, None))[1])
            lines += _wrap(label, parts, width)
        lines.append("")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _wrap(label: str, parts: list[str], width: int) -> list[str]:
    """LABEL padded with dots to the value column, then PARTS, wrapped between parts."""
    col = max(NAME_WIDTH, min(len(label) + 2, width // 2))
    head = f"{label} {'.' * max(1, col - len(label) - 3)}: " if len(label) + 3 <= col else None
    out, line = [], head if head is not None else ""
    if head is None:
        out.append(label + ":")
        line = " " * col
    for p in parts:
        if len(line) + len(p) + 1 > width and line.strip() and not line.rstrip().endswith(":"):
            out.append(line.rstrip())
            line = " " * col
        line += p + "  "
    out.append(line.rstrip())
    return out


def echo_summary(summary: dict, kinds: dict[str, tuple[str, str | None]], width: int) -> None:
    for line in render(summary, kinds, width):
        click.echo(line)
