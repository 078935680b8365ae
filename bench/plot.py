"""Plots of recorded benchmark results as SVG, written by hand (text, no plotting
library), so they can be redrawn anywhere from bench/results/*.json.

    python bench/plot.py failover [--results bench/results] [--out docs/failover.svg]

``failover``: every run of ``failover*.json`` (``failover.json`` and the files of runs
made with ``--results-name``; not the quick checks, which are not kept), as the share of
its load balancers serving again against the seconds since their host was killed; a
step per load balancer, from the run's ``serving_s``. A run recorded before
``serving_s`` existed shows its first, median and last VIP as points joined by a dashed
line (what lies between them was not recorded). A run's ``series`` names how its load
balancers came back (``rebuild``: built anew on the other host; a VRRP takeover is one
more series, drawn the same way); each run's goal is a dotted vertical line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
DOCS = BENCH.parent / "docs"
# Goals of bench/failover.py: seconds until the last VIP serves, per N.
FAILOVER_GOALS = {1: 15.0, 500: 60.0}
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")

WIDTH, HEIGHT = 680, 420
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 44, 56


@dataclass
class Series:
    label: str
    points: list[tuple[float, float]]
    # False: only a few points were recorded; joined by a dashed line and marked.
    measured: bool = True


@dataclass
class Chart:
    title: str
    xlabel: str
    ylabel: str
    series: list[Series] = field(default_factory=list)
    # (x, label): dotted vertical lines.
    marks: list[tuple[float, str]] = field(default_factory=list)
    ymax: float = 100.0


# ------------------------------------------------------------------ the failover data


def failover_series(run: dict[str, Any], date: str) -> Series:
    n = int(run["n"])
    when = f"{date[:10]} {date[11:16]} UTC" if len(date) >= 16 else date
    label = f"{run.get('series', 'rebuild')}, N={n} ({when})"
    times = run.get("serving_s")
    if times:
        points = [(0.0, 0.0)]
        for i, t in enumerate(sorted(times), start=1):
            points += [(t, 100.0 * (i - 1) / n), (t, 100.0 * i / n)]
        return Series(label, points)
    recorded = [(run.get("first_s"), 100.0 / n), (run.get("p50_s"), 50.0),
                (run.get("last_s"), 100.0)]
    points = [(float(x), y) for x, y in recorded if x is not None]
    return Series(label + ": first, median, last only", points, measured=False)


def failover_chart(results: Path) -> Chart:
    chart = Chart("Failover: load balancers serving again after their host died",
                  "seconds since the host was killed", "load balancers serving (%)")
    runs: list[tuple[dict[str, Any], str]] = []
    for path in sorted(results.glob("failover*.json")):
        if path.name.endswith(".quick.json"):
            continue  # a quick check, not kept (bench/results/.gitignore)
        doc = json.loads(path.read_text())
        if doc.get("benchmark") == "failover_vrrp":
            continue  # seconds below one: a chart of its own (vrrp_chart)
        runs += [(r, str(doc.get("date", ""))) for r in doc["details"]["runs"]]
    runs.sort(key=lambda item: (item[0].get("series", "rebuild"), item[0]["n"], item[1]))
    chart.series = [failover_series(run, date) for run, date in runs]
    for n in sorted({int(run["n"]) for run, _ in runs}):
        if n in FAILOVER_GOALS:
            chart.marks.append((FAILOVER_GOALS[n], f"goal N={n}"))
    return chart


def vrrp_chart(results: Path) -> Chart:
    """``failover_vrrp*.json`` (bench/failover.py --vrrp): per advert interval and kill,
    the share of takeovers done against the seconds from the kill until the VIP served
    again; Octavia's advert 1 s beside lbaas' fast one."""
    chart = Chart("ACTIVE_STANDBY: VRRP takeover after the MASTER's death",
                  "seconds since the kill", "takeovers done (%)")
    for path in sorted(results.glob("failover_vrrp*.json")):
        if path.name.endswith(".quick.json"):
            continue
        doc = json.loads(path.read_text())
        date = str(doc.get("date", ""))
        for run in doc["details"]["runs"]:
            times = [t["serving_again_s"] for t in run.get("takeovers") or []]
            if not times:
                continue
            kill = "host" if run.get("event") == "host" else "HAProxy"
            chart.series.append(failover_series(
                {"n": len(times), "serving_s": times,
                 "series": f"{kill} killed, advert {run['advert_int_ms']} ms"}, date))
    if chart.series:
        chart.marks.append((1.0, "goal 1 s"))
    return chart


# ------------------------------------------------------------------ SVG


def nice_step(span: float, most: int = 10) -> float:
    """The 1, 2 or 5 times a power of ten that cuts ``span`` into at most ``most``."""
    raw = span / most if span > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return float(factor * power)
    return float(10 * power)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def render(chart: Chart) -> str:
    xs = [x for s in chart.series for x, _ in s.points] + [x for x, _ in chart.marks]
    step = nice_step(max(xs, default=1.0))
    xmax = step * math.ceil(max(xs, default=1.0) / step + 0.05)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + plot_w * x / xmax

    def py(y: float) -> float:
        return TOP + plot_h * (1 - y / chart.ymax)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="14">'
           f'{escape(chart.title)}</text>']
    tick = 0.0
    while tick <= xmax + 1e-9:
        out.append(f'<line x1="{px(tick):.1f}" y1="{TOP}" x2="{px(tick):.1f}" '
                   f'y2="{TOP + plot_h}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{px(tick):.1f}" y="{TOP + plot_h + 16}" '
                   f'text-anchor="middle">{_num(tick)}</text>')
        tick += step
    for y in (0.0, 25.0, 50.0, 75.0, 100.0):
        out.append(f'<line x1="{LEFT}" y1="{py(y):.1f}" x2="{LEFT + plot_w}" '
                   f'y2="{py(y):.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{LEFT - 6}" y="{py(y) + 4:.1f}" text-anchor="end">'
                   f'{_num(y)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" '
               f'fill="none" stroke="#444"/>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 14}" text-anchor="middle">'
               f'{escape(chart.xlabel)}</text>')
    out.append(f'<text x="16" y="{TOP + plot_h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {TOP + plot_h / 2})">{escape(chart.ylabel)}'
               f'</text>')
    for x, label in chart.marks:
        out.append(f'<line x1="{px(x):.1f}" y1="{TOP}" x2="{px(x):.1f}" '
                   f'y2="{TOP + plot_h}" stroke="#777" stroke-dasharray="2 3"/>')
        out.append(f'<text x="{px(x) - 4:.1f}" y="{TOP + 14}" text-anchor="end" '
                   f'fill="#555">{escape(label)}</text>')
    for i, series in enumerate(chart.series):
        colour = COLOURS[i % len(COLOURS)]
        points = list(series.points)
        if series.measured and points:
            points.append((xmax, points[-1][1]))  # the share stays where it ended
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        dash = "" if series.measured else ' stroke-dasharray="6 4"'
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                   f'stroke-width="2"{dash}/>')
        if not series.measured:
            out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{colour}"/>'
                    for x, y in series.points]
        # The legend in the lower right corner, which rising curves leave empty.
        ly = TOP + plot_h - 14 - 18 * (len(chart.series) - 1 - i)
        right = LEFT + plot_w - 12
        out.append(f'<line x1="{right - 24}" y1="{ly - 4}" x2="{right}" y2="{ly - 4}" '
                   f'stroke="{colour}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{right - 30}" y="{ly}" text-anchor="end">'
                   f'{escape(series.label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ command line

CHARTS = {"failover": (failover_chart, "failover.svg"),
          "vrrp": (vrrp_chart, "failover_vrrp.svg")}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("chart", choices=sorted(CHARTS))
    p.add_argument("--results", type=Path, default=RESULTS,
                   help="the directory of the results files")
    p.add_argument("--out", type=Path, help="default docs/<chart>.svg")
    args = p.parse_args(argv)
    build, default_name = CHARTS[args.chart]
    chart = build(args.results)
    if not chart.series:
        print(f"no {args.chart} results in {args.results}", file=sys.stderr)
        return 1
    out = args.out or DOCS / default_name
    out.write_text(render(chart))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
