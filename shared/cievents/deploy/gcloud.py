"""``make deploy PROJECT=… REGION=… [NAME=value …] [DRY_RUN=1]``: deploy with gcloud.

Deploy variables (the ``variables:`` of function.yaml) come from the
environment as their upper-case names (``make deploy JIRA_URL=…`` puts them
there), then a ``deploy.env`` file (``NAME=value`` lines; ``DEPLOY_ENV`` names
another), then the manifest defaults. Project and region: ``--project`` /
``--region``, ``PROJECT`` / ``REGION`` (environment, then deploy.env), else
``GOOGLE_CLOUD_PROJECT`` and ``europe-west1``.

A real run does the preflight first (``cievents.deploy.preflight``) and stops
before changing anything when something is missing. Then each step of the plan
(``cievents.deploy.plan``) runs its check and only acts when the check says
the thing is not there yet: a second run changes nothing and says so. A
function whose secret has no value yet is not deployed (the command that adds
the value is printed; run ``make deploy`` again after). ``--dry-run`` prints the
plan as a bash script instead, to read or paste into a shell.

Exit status: 0 done, 2 preflight stopped it, 3 done except functions waiting
for secret values, else the failing step's status.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from cievents.deploy.manifest import ROOT, Manifest, load
from cievents.deploy.plan import build_plan, render
from cievents.deploy.preflight import preflight
from cievents.errors import ConfigError

__all__ = ["given_variables", "main", "read_env_file", "settings"]


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines; blank lines and ``#`` comments skipped, one level of quotes removed."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise ConfigError(str(path), f"line {number}: expected NAME=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def given_variables(
    manifest: Manifest, environ: Mapping[str, str], from_file: Mapping[str, str], path: str = ""
) -> dict[str, str]:
    """Deploy variables set by the user: the environment over the file, by upper-case name."""
    unknown = sorted(
        n
        for n in from_file
        if n.lower() not in manifest.variables and n not in ("PROJECT", "REGION")
    )
    if unknown:
        known = ", ".join(["PROJECT", "REGION", *(v.upper() for v in manifest.variables)])
        raise ConfigError(path or "deploy.env", f"unknown {', '.join(unknown)}; known: {known}")
    given: dict[str, str] = {}
    for name in manifest.variables:
        upper = name.upper()
        if upper in environ:
            given[name] = environ[upper]
        elif upper in from_file:
            given[name] = from_file[upper]
    return given


def settings(
    manifest: Manifest,
    environ: Mapping[str, str],
    env_file: Path,
    project: str = "",
    region: str = "",
    dry_run: bool = False,
) -> dict[str, str]:
    """Every deploy variable resolved, ``project`` and ``region`` included.

    In a dry run a required variable not given stays ``${NAME}`` for the printed plan.
    """
    from_file = read_env_file(env_file)
    project = (
        project
        or environ.get("PROJECT")
        or from_file.get("PROJECT")
        or environ.get("GOOGLE_CLOUD_PROJECT", "")
    )
    if not project:
        raise ConfigError("PROJECT", "set it: make deploy PROJECT=my-project")
    region = region or environ.get("REGION") or from_file.get("REGION") or "europe-west1"
    given = given_variables(manifest, environ, from_file, str(env_file))
    if dry_run:
        given.update({name: f"${{{name.upper()}}}" for name in manifest.missing(given)})
    return manifest.resolve(given, project, region)


def _bash(line: str, env: Mapping[str, str], quiet: bool) -> int:
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", line],
        cwd=ROOT,
        env=dict(env),
        check=False,
        stdout=subprocess.DEVNULL if quiet else None,
        stderr=subprocess.DEVNULL if quiet else None,
    )
    return done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cievents.deploy.gcloud", description=__doc__)
    parser.add_argument("--dry-run", action="store_true", default=bool(os.environ.get("DRY_RUN")))
    parser.add_argument(
        "--project", default="", help="default: PROJECT, deploy.env, GOOGLE_CLOUD_PROJECT"
    )
    parser.add_argument("--region", default="", help="default: REGION, deploy.env, europe-west1")
    parser.add_argument("--var", action="append", default=[], help="NAME=value (repeatable)")
    parser.add_argument(
        "--env-file",
        type=Path,
        default=Path(os.environ.get("DEPLOY_ENV", str(ROOT / "deploy.env"))),
        help="NAME=value lines (default deploy.env; a missing file is fine)",
    )
    args = parser.parse_args(argv)
    manifest = load()
    environ = {**os.environ, **{k.upper(): v for k, v in (x.split("=", 1) for x in args.var)}}
    try:
        variables = settings(
            manifest, environ, args.env_file, args.project, args.region, args.dry_run
        )
    except ConfigError as exc:
        if args.dry_run or exc.variable != "deploy variables":
            print(f"deploy: {exc.message}", file=sys.stderr)
            return 2
        variables = {}
    if args.dry_run:
        sources = {f.name: f"dist/{f.name}" for f in manifest.functions}
        print(render(build_plan(manifest, variables, sources), manifest, variables), end="")
        return 0
    return _deploy(manifest, variables, environ, args)


def _deploy(
    manifest: Manifest,
    variables: dict[str, str],
    environ: Mapping[str, str],
    args: argparse.Namespace,
) -> int:
    sources = {f.name: f"dist/{f.name}" for f in manifest.functions}  # bash runs in ROOT
    project = (
        variables.get("project")
        or args.project
        or environ.get("PROJECT")
        or read_env_file(args.env_file).get("PROJECT", "")
    )
    given = given_variables(manifest, environ, read_env_file(args.env_file))
    found = preflight(
        manifest, project, manifest.missing(given), {k: str(ROOT / v) for k, v in sources.items()}
    )
    if not found.ok:
        print(
            f"deploy: stopped before changing anything ({len(found.problems)} to fix):",
            file=sys.stderr,
        )
        for problem in found.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    for note in found.notes:
        print(f"deploy: note: {note}")
    waiting = {
        f.name: sorted(s for s in f.secrets.values() if s in found.secrets_without_value)
        for f in manifest.functions
    }
    waiting = {name: secrets for name, secrets in waiting.items() if secrets}
    env = {**environ, "PROJECT_NUMBER": found.project_number}
    changed = 0
    for step in build_plan(manifest, variables, sources):
        if step.function in waiting:
            continue
        if step.check and _bash(step.check_line(), env, quiet=True) == 0:
            print(f"= {step.what}")
            continue
        print(f"+ {step.what}", flush=True)
        status = _bash(step.line(check=False), env, quiet=False)
        if status != 0:
            print(f"deploy: step failed ({status}): {step.what}", file=sys.stderr)
            return status
        changed += 1
    print(
        f"deploy: {changed} change(s) made"
        if changed
        else "deploy: nothing changed: every resource, grant and function was already in place"
    )
    if waiting:
        print("deploy: these functions wait for secret values; add each, then make deploy again:")
        for secret in sorted({s for secrets in waiting.values() for s in secrets}):
            users = ", ".join(n for n, ss in waiting.items() if secret in ss)
            print(
                f"  printf '%s' \"$VALUE\" | gcloud secrets versions add {secret} "
                f"--data-file=- --project={project}   # {users}"
            )
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
