"""Cold start: importing each function's main.py in a fresh process.

For every function in function.yaml whose folder exists, N fresh Python
processes each import ``functions_framework`` and then the function's
``main.py`` (as functions-framework does), and report the import time and
peak RSS. The baseline, in the same run, is a fresh process importing bare
``functions_framework`` plus the integration SDKs that function itself uses.
Budget (issue 2): function ≤ 1.15 × baseline + 30 ms. Also lists any
integration SDK a function loads that it does not use.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

from bench.table import render

ROOT = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("BENCH_COLD_RUNS", "7"))

# Integration SDKs by the manifest's `extras` group name.
SDK_MODULES = {
    "slack": ["slack_sdk"],
    "jira": ["jira"],
    "bigquery": ["google.cloud.bigquery"],
    "storage": ["google.cloud.storage"],
    "firestore": ["google.cloud.firestore"],
    "pubsub": ["google.cloud.pubsub_v1"],
    "ingest": ["google.cloud.pubsub_v1"],
    "scan": ["hyperscan"],
}
ALL_SDKS = sorted({m for mods in SDK_MODULES.values() for m in mods})

PROBE = r"""
import importlib.util, json, resource, sys, time
t0 = time.perf_counter()
import functions_framework  # noqa
t1 = time.perf_counter()
for name in json.loads(sys.argv[2]):
    __import__(name)
source = sys.argv[1]
if source:
    spec = importlib.util.spec_from_file_location("main", source)
    module = importlib.util.module_from_spec(spec)
    sys.modules["main"] = module
    spec.loader.exec_module(module)
t2 = time.perf_counter()
sdks = json.loads(sys.argv[3])
print(json.dumps({"ff_ms": (t1 - t0) * 1000, "total_ms": (t2 - t0) * 1000,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "loaded": [m for m in sdks if m in sys.modules]}))
"""


def measure(source: str, preload: list[str]) -> dict[str, object]:
    samples = []
    env = {**os.environ, "CIEVENTS_STORE": "memory:", "CIEVENTS_DRY_RUN": "1"}
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", PROBE, source, json.dumps(preload), json.dumps(ALL_SDKS)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=False,
        )
        if out.returncode != 0:
            return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "total_ms": statistics.median(float(s["total_ms"]) for s in samples),
        "rss_mb": statistics.median(float(s["rss_mb"]) for s in samples),
        "loaded": samples[-1]["loaded"],
    }


def sdks_for(spec: dict[str, object]) -> list[str]:
    extras = spec.get("extras") or []
    modules: list[str] = []
    for extra in extras if isinstance(extras, list) else []:
        modules.extend(SDK_MODULES.get(str(extra), []))
    return sorted(set(modules))


def main(argv: list[str]) -> int:
    manifest = yaml.safe_load((ROOT / "function.yaml").read_text())
    bare = measure("", [])
    print(
        f"bare functions_framework: {bare.get('total_ms', 0):.1f} ms, "
        f"{bare.get('rss_mb', 0):.1f} MB peak RSS (median of {RUNS} fresh processes)\n"
    )
    rows = []
    for name, spec in manifest.get("functions", {}).items():
        main_py = ROOT / str(spec["source"]) / "main.py"
        if not main_py.exists():
            rows.append([name, "-", "-", "-", "-", "-", "not built yet"])
            continue
        own = sdks_for(spec)
        baseline = measure("", own)
        result = measure(str(main_py), [])
        if "error" in result or "error" in baseline:
            rows.append(
                [name, "-", "-", "-", "-", "-", str(result.get("error") or baseline.get("error"))]
            )
            continue
        base_ms = float(baseline["total_ms"])  # type: ignore[arg-type]
        fn_ms = float(result["total_ms"])  # type: ignore[arg-type]
        budget = 1.15 * base_ms + 30
        unused = sorted(set(result["loaded"]) - set(own))  # type: ignore[arg-type]
        rows.append(
            [
                name,
                round(fn_ms, 1),
                round(base_ms, 1),
                round(budget, 1),
                "yes" if fn_ms <= budget else "NO",
                round(float(result["rss_mb"]), 1),  # type: ignore[arg-type]
                ", ".join(unused) if unused else "none",
            ]
        )
    print(
        render(
            [
                "function",
                "import ms",
                "baseline ms (ff + own SDKs)",
                "budget ms",
                "within",
                "peak RSS MB",
                "unused SDKs loaded",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
