"""Secret scan accuracy on data we did not write, side by side with gitleaks and betterleaks.

Two measures, one run, the same bytes for every scanner:

1. **False findings per MB of real text with no secrets**: the Python standard
   library of this machine and the site-packages of the project's venv (every
   file without a NUL byte in its first 8 KB, at most 8 MB). Whatever a scanner
   flags there is classified (by rule and by kind: code naming a credential,
   documentation example, test fixture key, ...) and printed with examples. Private
   keys that really are keys (test fixtures of ``ssl``, ``moto``) are counted apart:
   they are true findings of a real key, whatever the key is for.
2. **Recall and precision per family on samples built from vendors' published
   formats** (bench/secret_formats.py, which does not import our rules).

A split keeps the figures honest: the rules were tuned on the standard library, on
half of site-packages (packages whose name has an even CRC32), on the gcloud SDK's
``googlecloudsdk`` sources when installed, and on sample seed ``TUNE_SEED``; the other half of site-packages and seed ``HELD_OUT_SEED`` are held
out, reported beside them and never used to change a rule.

``python bench/secret_eval.py --quick`` measures the tuning halves only, with the
anchors' results cached (they do not change between our runs);
``bench/secret_scan.py`` runs everything as part of ``make bench``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import sysconfig
import tempfile
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from bench.scan_anchors import ANCHORS, Anchor, _run  # noqa: E402
from bench.secret_formats import HELD_OUT_SEED, TUNE_SEED, Sample, render, samples  # noqa: E402
from bench.table import render as table  # noqa: E402

PEERS = ("gitleaks", "betterleaks")
MAX_FILE = 8 * 1024 * 1024
CACHE = ROOT / "bench" / ".results" / "anchor-cache"
GOAL_FP_PER_MB = 0.2

Flags = list[tuple[str, int, str]]  # (relative path, line, rule id)


def text_files(root: Path, exclude: tuple[str, ...] = ()) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if any(part in exclude for part in rel) or not path.is_file() or path.is_symlink():
            continue
        try:
            if path.stat().st_size > MAX_FILE:
                continue
            with path.open("rb") as handle:
                if b"\0" in handle.read(8192):
                    continue
        except OSError:
            continue
        out.append(path)
    return out


def real_text_sets() -> dict[str, tuple[Path, list[Path]]]:
    """``stdlib`` and half the venv's site-packages (tuning), the other half (held out).

    The halves are fixed by each top-level entry's name (CRC32 parity), so a package is
    wholly on one side, and the split does not move when packages are added.
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    venv = ROOT / ".venv" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    site = venv / "site-packages"
    files = text_files(site, ("__pycache__",))
    held = [p for p in files if _held_out(p.relative_to(site).parts[0])]
    tune = [p for p in files if not _held_out(p.relative_to(site).parts[0])]
    sets = {
        "stdlib": (stdlib, text_files(stdlib, ("site-packages", "__pycache__"))),
        "site-packages, tuning half": (site, tune),
        "site-packages, held-out half": (site, held),
    }
    # The gcloud CLI every machine here has: more real source (tuning), when installed.
    sdk = Path("/usr/lib/google-cloud-sdk/lib/googlecloudsdk")
    if sdk.is_dir():
        sets["google-cloud-sdk (googlecloudsdk)"] = (sdk, text_files(sdk, ("__pycache__",)))
    return sets


def _held_out(top: str) -> bool:
    name = top.split("-", 1)[0].split(".", 1)[0].lower()  # a package and its dist-info together
    return zlib.crc32(name.encode()) % 2 == 1


def stage(name: str, root: Path, files: list[Path]) -> Path:
    """A folder holding exactly these files (hard links where possible), for every tool."""
    folder = (
        Path(tempfile.gettempdir())
        / f"cievents-scan-eval-{name.replace(' ', '').replace(',', '-')}"
    )
    if folder.exists():
        shutil.rmtree(folder)
    for path in files:
        target = folder / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copyfile(path, target)
    return folder


def ours_flags(folder: Path) -> tuple[Flags, float]:
    from cievents.scanning import Scanner

    scanner = Scanner()
    flags: Flags = []
    start = time.perf_counter()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            rel = str(path.relative_to(folder))
            for f in scanner.scan_bytes(path.read_bytes(), rel):
                flags.append((rel, f.line, f.rule_id))
    return flags, time.perf_counter() - start


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(folder)).encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:24]


def anchor_flags(anchor: Anchor, folder: Path, cached: bool) -> tuple[Flags | None, float]:
    """The anchor's findings on the folder (relative path, line, rule), cached by content."""
    key = CACHE / f"{anchor.name}-{_digest(folder)}.json"
    if cached and key.exists():
        data = json.loads(key.read_text())
        return [tuple(x) for x in data["flags"]], data["seconds"]  # type: ignore[misc]
    exe = anchor.ensure()
    if exe is None:
        return None, 0.0
    seconds, _, result = _run(anchor, exe, folder)
    report = anchor.report_for(folder)
    flags: Flags = []
    try:
        items = json.loads(report.read_text() or "[]")
    except (OSError, ValueError):
        return None, seconds
    if isinstance(items, dict):  # betterleaks
        for item in items.get("findings") or []:
            loc = item["location"]
            flags.append(
                (
                    _rel(loc.get("path") or loc.get("file", ""), folder),
                    int(loc["start_line"]),
                    item["rule_id"],
                )
            )
    else:
        for item in items:
            flags.append((_rel(item["File"], folder), int(item["StartLine"]), item["RuleID"]))
    report.unlink(missing_ok=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    key.write_text(json.dumps({"flags": flags, "seconds": seconds}))
    return flags, seconds


def _rel(path: str, folder: Path) -> str:
    p = Path(path)
    try:
        return str(p.relative_to(folder))
    except ValueError:
        return str(p)


# --- real text ------------------------------------------------------------------------


def classify(line: str, rule: str) -> str:
    """What a flagged line of real source is (for the table; never used by the scanner)."""
    low = line.lower()
    if ("private" in rule and "-----begin" in low) or "private-key" in rule:
        return "private key block (a real test key)"
    if "example" in low or "username:password" in low or "user:pass" in low:
        return "documentation example"
    if (
        any(t in line for t in ("self.", "(", "[", ": str", "Optional"))
        and "'" not in line
        and '"' not in line
    ):
        return "code: identifier, call or annotation"
    if "test" in low:
        return "test data"
    return "other literal"


def is_real_key(path: Path, line_no: int) -> bool:
    try:
        lines = path.read_text("utf-8", errors="replace").splitlines()
    except OSError:
        return False
    line = lines[line_no - 1] if 0 < line_no <= len(lines) else ""
    return "PRIVATE KEY" in line and "-----BEGIN" in line


@dataclass
class RealText:
    megabytes: float
    flags: dict[str, Flags] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def measure_real_text(
    name: str, root: Path, files: list[Path], tools: list[str], cached: bool
) -> tuple[RealText, Path]:
    folder = stage(name, root, files)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6
    result = RealText(size)
    result.flags["cievents"], result.seconds["cievents"] = ours_flags(folder)
    for anchor in ANCHORS:
        if anchor.name in tools:
            flags, seconds = anchor_flags(anchor, folder, cached)
            if flags is not None:
                result.flags[anchor.name], result.seconds[anchor.name] = flags, seconds
    return result, folder


def real_text_report(
    name: str, result: RealText, folder: Path, examples: int
) -> list[list[object]]:
    rows = []
    for tool, flags in result.flags.items():
        lines = {(p, n): r for p, n, r in flags}  # one flag per line, as the issue counted
        keys = {k for k in lines if is_real_key(folder / k[0], k[1])}
        false = len(lines) - len(keys)
        rows.append(
            [
                f"{name} ({result.megabytes:.1f} MB)",
                tool,
                len(lines),
                len(keys),
                false,
                round(false / result.megabytes, 3),
            ]
        )
        if examples:
            kinds: Counter[str] = Counter()
            shown: dict[str, list[str]] = defaultdict(list)
            for (path, number), rule in sorted(lines.items()):
                if (path, number) in keys:
                    continue
                text = _line(folder / path, number)
                kind = f"{rule}: {classify(text, rule)}"
                kinds[kind] += 1
                if len(shown[kind]) < examples:
                    shown[kind].append(f"{path}:{number}: {text.strip()[:150]}")
            print(f"\n{tool} on {name}, false findings by rule and kind:")
            for kind, count in kinds.most_common():
                print(f"  {count:5d}  {kind}")
                for ex in shown[kind]:
                    print(f"           {ex}")
    return rows


def _line(path: Path, number: int) -> str:
    try:
        with path.open("rb") as handle:
            for index, raw in enumerate(handle, 1):
                if index == number:
                    return raw.decode("utf-8", errors="replace")
    except OSError:
        pass
    return ""


# --- format samples -------------------------------------------------------------------


@dataclass
class FamilyScore:
    found: int = 0
    planted: int = 0
    false_positives: int = 0
    negatives: int = 0


def score_samples(flags: Flags, spans: list[tuple[Sample, int, int]]) -> dict[str, FamilyScore]:
    flagged = {n for _, n, _ in flags}
    out: dict[str, FamilyScore] = defaultdict(FamilyScore)
    for sample, first, last in spans:
        hit = any(n in flagged for n in range(first, last + 1))
        s = out[sample.family]
        if sample.positive:
            s.planted += 1
            s.found += hit
        else:
            s.negatives += 1
            s.false_positives += hit
    return dict(out)


def measure_samples(seed: int, tools: list[str], cached: bool) -> dict[str, dict[str, FamilyScore]]:
    text, spans = render(samples(seed))
    folder = Path(tempfile.gettempdir()) / f"cievents-scan-samples-{seed}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "samples.txt").write_text(text)
    results = {"cievents": score_samples(ours_flags(folder)[0], spans)}
    for anchor in ANCHORS:
        if anchor.name in tools:
            flags, _ = anchor_flags(anchor, folder, cached)
            if flags is not None:
                results[anchor.name] = score_samples(flags, spans)
    return results


def totals(
    scores: dict[str, FamilyScore], families: set[str] | None = None
) -> tuple[float, float, int, int, int]:
    chosen = [s for f, s in scores.items() if families is None or f in families]
    found = sum(s.found for s in chosen)
    planted = sum(s.planted for s in chosen)
    fp = sum(s.false_positives for s in chosen)
    recall = found / planted if planted else 1.0
    precision = found / (found + fp) if found + fp else 1.0
    return recall, precision, found, planted, fp


def samples_report(
    label: str, results: dict[str, dict[str, FamilyScore]], per_family: bool
) -> list[list[object]]:
    rows = []
    for tool, scores in results.items():
        recall, precision, found, planted, fp = totals(scores)
        rows.append([label, tool, f"{found}/{planted}", round(recall, 3), fp, round(precision, 3)])
    if per_family:
        tools = list(results)
        families = sorted({f for s in results.values() for f in s})
        print(f"\nper family ({label}): found/planted, false positives/negatives\n")
        print(
            table(
                ["family", *tools],
                [[fam, *(_cell(results[t].get(fam)) for t in tools)] for fam in families],
            )
        )
    return rows


def _cell(s: FamilyScore | None) -> str:
    if s is None:
        return "-"
    return f"{s.found}/{s.planted}, fp {s.false_positives}/{s.negatives}"


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    examples = 3 if quick or "--examples" in argv else 0
    tools = [t for t in PEERS if f"--no-{t}" not in argv]
    cached = quick or os.environ.get("BENCH_SCAN_CACHE", "1") == "1"
    sets = real_text_sets()
    chosen = [n for n in sets if "held-out" not in n] if quick else list(sets)
    rows = []
    for name in chosen:
        root, files = sets[name]
        result, folder = measure_real_text(name, root, files, tools, cached)
        rows += real_text_report(name, result, folder, examples)
        shutil.rmtree(folder, ignore_errors=True)
    print("\nfalse findings on real text with no secrets (one per flagged line)\n")
    print(
        table(
            [
                "corpus",
                "scanner",
                "flagged lines",
                "real private keys",
                "false findings",
                "false per MB",
            ],
            rows,
        )
    )
    sample_rows = []
    seeds = [("tuning seed", TUNE_SEED)] + ([] if quick else [("held-out seed", HELD_OUT_SEED)])
    for label, seed in seeds:
        sample_rows += samples_report(
            f"{label} {seed}", measure_samples(seed, tools, cached), per_family=True
        )
    print("\nformat samples (bench/secret_formats.py): recall and precision\n")
    print(
        table(
            ["samples", "scanner", "found", "recall", "false positives", "precision"], sample_rows
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
