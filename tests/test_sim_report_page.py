"""The report page as a decision document: a latency CDF per tier on real axes, the gate numbers by seed,
where each model's quality figures come from, the run options as a table; offline (nothing fetched)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from sim.cli import main as sim_main
from sim.plot import cdf_points, nice_ticks

ROOT = Path(__file__).resolve().parent.parent


def test_ticks_are_round_numbers_that_cover_the_range() -> None:
    assert nice_ticks(0, 2900) == [0, 1000, 2000, 3000]
    assert nice_ticks(0.93, 0.99) == [0.92, 0.94, 0.96, 0.98, 1.0]
    assert cdf_points([3.0, 1.0, 2.0]) == [(1.0, 1 / 3), (2.0, 2 / 3), (3.0, 1.0)]


def test_the_report_page_reads_as_a_decision_document(tmp_path: Path) -> None:
    calls = sorted((ROOT / "sim" / "calls").glob("*.jsonl"))[:6]
    page = tmp_path / "r.html"
    args = ["replay", *map(str, calls), "--seeds", "2", "--html", str(page), "--quiet"]
    result = CliRunner().invoke(sim_main, args)
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert "First-token latency by tier (CDF)" in text and "share of turns" in text
    assert ">1000<" in text or ">2000<" in text  # tick labels on the latency axis
    assert "Gate numbers by seed" in text and text.count("<tr><td>0</td>") == 1
    assert "claude-haiku</td><td>assumed" in text
    assert "<th>seeds</th><td>2</td>" in text and '{"kind"' not in text  # options as a table, not JSON
    assert "http://" not in text and "https://" not in text
