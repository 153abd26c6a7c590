"""The command-line entry points start without loading media, vendor SDKs, recognisers, Ray or numerics.

Guards against the 2.5 s start every command used to pay (`voicerouter.config` -> `voicerouter.audio` ->
`scipy.signal`): a heavy module is imported only by the command that uses it. No timing is asserted here;
`python -X importtime -c "import voicerouter.cli"` gives the figure.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("aiortc", "av", "openai", "anthropic", "pocketsphinx", "ray", "scipy", "soxr", "numpy")


def _loaded_by(module: str) -> list[str]:
    probe = (
        "import json, sys\n"
        f"import {module}\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(result.stdout)
    return loaded


@pytest.mark.parametrize("module", ["voicerouter.cli", "sim.cli"])
def test_importing_a_cli_loads_none_of_the_heavy_modules(module: str) -> None:
    assert _loaded_by(module) == []


def test_the_probe_sees_a_heavy_module_when_one_is_imported() -> None:
    assert _loaded_by("voicerouter.audio.resample") == ["numpy"]
