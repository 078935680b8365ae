"""bench/plot.py: the failover plot is valid SVG with one curve per recorded run, the
goals, and any further series (a VRRP takeover) drawn like the first."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from bench import plot

SVG = "{http://www.w3.org/2000/svg}"


def _results(path: Path, name: str, runs: list[dict]) -> None:
    path.joinpath(name).write_text(json.dumps({
        "benchmark": "failover", "date": "2026-12-02T17:48:57Z",
        "details": {"runs": runs}}))


def test_failover_plot_has_a_curve_per_run_and_the_goals(tmp_path: Path) -> None:
    _results(tmp_path, "failover.json", [
        {"n": 500, "first_s": 8.6, "p50_s": 26.2, "last_s": 47.5}])  # before serving_s
    _results(tmp_path, "failover.n1.json", [
        {"n": 1, "series": "rebuild", "serving_s": [7.5]}])
    _results(tmp_path, "failover.quick.json", [{"n": 1, "serving_s": [9.9]}])  # not kept
    _results(tmp_path, "failover.vrrp.json", [
        {"n": 2, "series": "vrrp", "serving_s": [1.2, 1.4]}])
    out = tmp_path / "failover.svg"
    assert plot.main(["failover", "--results", str(tmp_path), "--out", str(out)]) == 0

    root = ET.fromstring(out.read_text())
    curves = root.findall(f"{SVG}polyline")
    assert len(curves) == 3
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert "rebuild, N=1 (2026-12-02 17:48 UTC)" in texts
    assert "vrrp, N=2 (2026-12-02 17:48 UTC)" in texts
    assert any(t.startswith("rebuild, N=500") and "first, median, last only" in t
               for t in texts)
    assert {"goal N=1", "goal N=500"} <= set(texts)
    # The quantile-only run is dashed and its three points are marked.
    dashed = [c for c in curves if c.get("stroke-dasharray")]
    assert len(dashed) == 1 and len(root.findall(f"{SVG}circle")) == 3


def test_steps_rise_one_load_balancer_at_a_time() -> None:
    series = plot.failover_series({"n": 2, "serving_s": [3.0, 1.0]}, "")
    assert series.measured
    assert series.points == [(0.0, 0.0), (1.0, 0.0), (1.0, 50.0), (3.0, 50.0),
                             (3.0, 100.0)]


def test_nice_steps() -> None:
    assert plot.nice_step(47.5) == 5.0
    assert plot.nice_step(70) == 10.0
    assert plot.nice_step(8) == 1.0


def test_nothing_recorded_is_an_error(tmp_path: Path) -> None:
    assert plot.main(["failover", "--results", str(tmp_path),
                      "--out", str(tmp_path / "x.svg")]) == 1


def test_vrrp_takeovers_get_a_chart_of_their_own(tmp_path: Path) -> None:
    doc = {"benchmark": "failover_vrrp", "date": "2026-12-02T21:48:57Z", "details": {
        "runs": [{"advert_int_ms": 100, "event": "host",
                  "takeovers": [{"serving_again_s": 0.3}, {"serving_again_s": 0.34}]},
                 {"advert_int_ms": 1000, "event": "host",
                  "takeovers": [{"serving_again_s": 3.1}]}]}}
    (tmp_path / "failover_vrrp.json").write_text(json.dumps(doc))
    assert plot.failover_chart(tmp_path).series == []  # not on the rescheduling chart
    chart = plot.vrrp_chart(tmp_path)
    assert [s.label.split(" (")[0] for s in chart.series] == [
        "host killed, advert 100 ms, N=2", "host killed, advert 1000 ms, N=1"]
    assert chart.series[0].points[-1] == (0.34, 100.0)
    out = tmp_path / "vrrp.svg"
    assert plot.main(["vrrp", "--results", str(tmp_path), "--out", str(out)]) == 0
    assert "advert 1000 ms" in out.read_text()
