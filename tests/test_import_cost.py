"""The command-line entry points start without loading media, vendor SDKs, recognisers, Ray or numerics.

Guards against the 2.5 s start every command used to pay (`voicerouter.config` -> `voicerouter.audio` ->
`scipy.signal`): a heavy module is imported only by the command that uses it. No timing is asserted here;
`python -X importtime -c "import voicerouter.cli"` gives the figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("aiortc", "av", "openai", "anthropic", "pocketsphinx", "ray", "scipy", "soxr", "numpy")


def _loaded_by(statement: str, env: dict[str, str] | None = None) -> list[str]:
    report = f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    probe = f"import json, sys\n{statement}\n{report}"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env or dict(os.environ)
    )
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


@pytest.mark.parametrize("module", ["voicerouter.cli", "sim.cli"])
def test_importing_a_cli_loads_none_of_the_heavy_modules(module: str) -> None:
    assert _loaded_by(f"import {module}") == []


def test_route_loads_only_the_classifier_numerics_even_with_vendor_keys_set() -> None:
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": "sk-ant-test"}
    route = "from voicerouter.cli import main\nmain(['route', 'when do you open'], standalone_mode=False)"
    assert _loaded_by(route, env) == ["numpy"]  # the router's classifier; no SDK, no media


def test_the_probe_sees_a_heavy_module_when_one_is_imported() -> None:
    assert _loaded_by("import voicerouter.audio.resample") == ["numpy"]
