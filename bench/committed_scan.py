"""The secret scan of committed code: throughput, and memory that does not grow with the archive.

A repository is made of real text on this machine (the ``.py``, ``.txt``, ``.json``,
``.cfg`` and ``.md`` files of the venv's site-packages, in path order, up to
``BENCH_COMMITTED_MB`` each run: default 10 and 40 MB uncompressed), served as GitHub's
tarball by the loopback GitHub fake in this process. ``scan_repository`` runs in a fresh
child process (the real ``GitHubClient``, the 302 to the archive, the stream), which
reports its wall time, the files scanned and skipped, the findings, and its peak RSS
(``VmHWM``) after the scan beside the peak before it (imports, rules loaded), so the growth
is what the scan itself took. Figures, never assertions: they vary with the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from bench.table import render

ROOT = Path(__file__).resolve().parents[1]
SIZES = [int(x) for x in os.environ.get("BENCH_COMMITTED_MB", "10,40").split(",")]
SUFFIXES = (".py", ".txt", ".json", ".cfg", ".md", ".toml", ".yaml", ".ini")
TOKEN = "bench-token-not-real"

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])
def hwm_kb():
    # VmHWM: this process's own peak (ru_maxrss would carry the parent's over the exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
from cievents.inventory.committed import ScanLimits, scan_repository
from cievents.inventory.model import Repo
from cievents.scanning import Scanner
from cievents.scm.github import GitHubClient
scanner = Scanner()
scanner.scan_bytes(b"warm")
before = hwm_kb()
repo = Repo(scm="github", id="1", owner="bench", name="repo", full_name="bench/repo",
            web_url="", visibility="private", default_branch="main")
client = GitHubClient(api_url=sys.argv[1], token=sys.argv[2])
started = time.perf_counter()
scan = scan_repository(repo, client, None, scanner=scanner,
                       limits=ScanLimits(max_bytes=1 << 30, max_file_bytes=2 << 20))
seconds = time.perf_counter() - started
after = hwm_kb()
print(json.dumps({"seconds": seconds, "files": scan.files, "skipped": scan.skipped_files,
                  "findings": len(scan.findings), "archive": scan.archive_bytes,
                  "rss_before_kb": before, "rss_after_kb": after}))
"""


def corpus(limit_mb: int) -> dict[str, bytes]:
    """Text files of the venv's site-packages, in path order, up to ``limit_mb``."""
    base = Path(sysconfig.get_paths()["purelib"])
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(base.rglob("*")):
        if path.suffix not in SUFFIXES or not path.is_file():
            continue
        data = path.read_bytes()
        if total + len(data) > limit_mb * 1024 * 1024:
            break
        files[str(path.relative_to(base))] = data
        total += len(data)
    return files


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    from tests.support.fakes.github import AuditedRepo, FakeGitHub, tar_gz

    rows = []
    for size in SIZES:
        files = corpus(size)
        text_mb = sum(len(v) for v in files.values()) / 1e6
        archive = tar_gz(files, "bench-repo-bbbbbbb")
        archive_mb = len(archive) / 1e6
        with FakeGitHub(tokens=(TOKEN,)) as fake:
            fake.audited["bench/repo"] = AuditedRepo(archive=archive, head_sha="b" * 40)
            out = subprocess.run(
                [sys.executable, "-c", CHILD, fake.url, TOKEN, str(ROOT / "shared")],
                capture_output=True,
                text=True,
                check=False,
                cwd=ROOT,
                env={**os.environ, "CIEVENTS_HTTP_READ_TIMEOUT_S": "60"},
            )
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            return 1
        got = json.loads(out.stdout.strip().splitlines()[-1])
        growth_mb = (got["rss_after_kb"] - got["rss_before_kb"]) / 1024
        rows.append(
            [
                f"{text_mb:.1f}",
                f"{archive_mb:.1f}",
                str(got["files"]),
                str(got["skipped"]),
                str(got["findings"]),
                f"{got['seconds']:.1f}",
                f"{text_mb / got['seconds']:.1f}",
                f"{got['rss_before_kb'] / 1024:.0f}",
                f"{growth_mb:.0f}",
            ]
        )
    print(
        render(
            [
                "text MB",
                "tar.gz MB",
                "files scanned",
                "skipped",
                "findings",
                "seconds",
                "MB/s",
                "peak RSS before MB",
                "peak RSS growth MB",
            ],
            rows,
        )
    )
    print("\nfindings are in third-party code as installed (test keys, examples): not triaged here")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
