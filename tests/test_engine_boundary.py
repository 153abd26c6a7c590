"""The engine's state is its own: its turn, history and tools are private, and no module outside
voicerouter/engine/ reaches for them (a runtime that did would be driven by engine internals, not actions)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.engine_kit import make_engine

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("voicerouter", "sim", "benchmarks", "scripts", "tests")
ENGINE_PACKAGE = ROOT / "voicerouter" / "engine"
ENGINE_STATE = {"turn", "history", "tools", "_turn", "_history", "_tools", "_tool_specs"}


def _names_an_engine(node: ast.expr) -> bool:
    """`engine`, `self.engine`, `call.engine`, `self._engine`: an expression that ends in an engine name."""
    if isinstance(node, ast.Name):
        return "engine" in node.id.lower()
    if isinstance(node, ast.Attribute):
        return "engine" in node.attr.lower()
    return False


def engine_state_reads(source: str, filename: str) -> list[str]:
    """Every `<engine>.turn` / `.history` / `.tools` (or their private names) in `source`, as file:line."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Attribute) and node.attr in ENGINE_STATE and _names_an_engine(node.value):
            found.append(f"{filename}:{node.lineno}: .{node.attr}")
    return found


def test_the_scan_finds_a_runtime_reading_the_engines_turn() -> None:
    reader = "def current(self):\n    return self._engine.turn.turn_id, engine.history, call.engine._tools\n"
    assert len(engine_state_reads(reader, "reader.py")) == 3


def test_no_module_outside_the_engine_reads_its_turn_history_or_tools() -> None:
    offenders = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.is_relative_to(ENGINE_PACKAGE) or ".venv" in path.parts:
                continue
            offenders += engine_state_reads(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_engine_exposes_no_turn_history_or_tools_attribute() -> None:
    engine, _clock = make_engine()
    assert not {"turn", "history", "tools"} & set(dir(engine))
