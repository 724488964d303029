"""No function loads an integration SDK it does not use (a fresh process per function).

What a function may load comes from its manifest entry's ``extras``; the timing
side of cold start is measured in bench/cold_start.py, not asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.cold_start import ALL_SDKS, PROBE, sdks_for

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "function.yaml").read_text())
BUILT = [
    (name, spec)
    for name, spec in MANIFEST["functions"].items()
    if (ROOT / spec["source"] / "main.py").exists()
]


@pytest.mark.parametrize(("name", "spec"), BUILT, ids=[b[0] for b in BUILT])
def test_function_imports_only_its_own_sdks(name: str, spec: dict[str, object]) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            str(ROOT / str(spec["source"]) / "main.py"),
            "[]",
            json.dumps(ALL_SDKS),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "CIEVENTS_STORE": "memory:",
            "CIEVENTS_DRY_RUN": "1",
            "HOME": str(ROOT),
        },
    )
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1])["loaded"])
    assert loaded <= set(sdks_for(spec)), f"{name} loads SDKs it does not use: {loaded}"
