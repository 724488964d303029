"""infra/ without cloud access: fmt, the provider-free manifest module, structure, checkov."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

from cievents.deploy import manifest
from tests.support import tools

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform is not on PATH: skipped")


def terraform(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    return subprocess.run(
        [TERRAFORM or "terraform", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@needs_terraform
def test_fmt() -> None:
    result = terraform("fmt", "-check", "-recursive", cwd=INFRA)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_terraform
def test_manifest_module_validates_and_its_tests_pass(tmp_path: Path) -> None:
    module = tmp_path / "manifest"
    shutil.copytree(INFRA / "modules" / "manifest", module)
    (tmp_path / "function.yaml").write_text((ROOT / "function.yaml").read_text())
    test_file = module / "tests" / "manifest.tftest.hcl"
    test_file.write_text(
        test_file.read_text().replace("../../../function.yaml", "../function.yaml")
    )
    assert terraform("init", "-backend=false", "-input=false", cwd=module).returncode == 0
    validated = terraform("validate", cwd=module)
    assert validated.returncode == 0, validated.stderr
    tested = terraform("test", cwd=module)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "5 passed, 0 failed" in tested.stdout


def parsed() -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = {}
    for path in INFRA.glob("*.tf"):
        with path.open() as fh:
            document = hcl2.load(fh)
        for block in document.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    resources[f"{kind.strip(chr(34))}.{name.strip(chr(34))}"] = body
    return resources


def test_every_function_gets_its_resources() -> None:
    resources = parsed()
    per_function = [
        "google_cloudfunctions2_function.function",
        "google_service_account.function",
        "google_storage_bucket_object.source",
    ]
    for address in per_function:
        assert "local.functions" in str(resources[address]["for_each"]), address
    subscription = resources["google_pubsub_subscription.push"]
    assert "local.subscriptions" in str(subscription["for_each"])
    assert "oidc_token" in str(subscription["push_config"])
    assert "dead_letter_policy" in str(subscription) and "retry_policy" in str(subscription)
    assert "module.manifest.dead_letter_topics" in str(
        resources["google_pubsub_topic.dead_letter"]["for_each"]
    )
    assert "filesha256" in str(resources["google_storage_bucket_object.source"]["name"])
    function = resources["google_cloudfunctions2_function.function"]
    assert "event_trigger" not in function  # Pub/Sub arrives by direct push, which can dead-letter
    assert "secret_environment_variables" in str(function["service_config"])
    assert "lifecycle_rule" in resources["google_storage_bucket.archive"]
    assert "google_logging_metric.outcomes" in resources
    assert "google_monitoring_alert_policy.failures" in resources


def test_every_grant_kind_and_secret_is_handled() -> None:
    resources = parsed()
    handled = {
        "topic": "google_pubsub_topic_iam_member.grant",
        "bucket": "google_storage_bucket_iam_member.grant",
        "dataset": "google_bigquery_dataset_iam_member.grant",
        "project": "google_project_iam_member.grant",
    }
    for function in manifest.load().functions:
        for role in function.roles:
            kind = next(k for k in ("topic", "bucket", "dataset", "project") if k in role)
            assert handled[kind] in resources
            assert role["role"].startswith("roles/")
            if kind == "topic":
                assert role["topic"] in manifest.load().topics
        assert "google_secret_manager_secret_iam_member.accessor" in resources
    secret = resources["google_secret_manager_secret.secret"]
    assert "secret_data" not in str(secret)  # no values in state
    assert "google_secret_manager_secret_version" not in str(resources)


@pytest.mark.slow
def test_checkov_passes_with_only_waived_checks(tmp_path: Path) -> None:
    checkov = tools.venv_tool(".venv-checkov", "checkov")  # pinned by the Makefile
    result = subprocess.run(
        [
            str(checkov),
            "-d",
            str(INFRA),
            "--framework",
            "terraform",
            "--quiet",
            "--compact",
            "--config-file",
            str(INFRA / ".checkov.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:]
