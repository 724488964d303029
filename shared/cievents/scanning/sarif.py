"""SARIF 2.1.0, as GitHub code scanning reads it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cievents.scanning.rules import RULES
from cievents.scanning.scanner import Finding

LEVEL = {"high": "error", "medium": "warning", "low": "note"}


def to_sarif(findings: Sequence[Finding], version: str = "0.1.0") -> dict[str, Any]:
    rules = [
        {
            "id": r.id,
            "name": r.id,
            "shortDescription": {"text": r.description},
            "properties": {
                "family": r.family,
                "security-severity": {"high": "8.0", "medium": "5.0"}.get(r.severity, "3.0"),
            },
        }
        for r in RULES
    ]
    results = [
        {
            "ruleId": f.rule_id,
            "level": LEVEL.get(f.severity, "warning"),
            "message": {"text": f"{f.description} ({f.secret}), confidence {f.confidence}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.path},
                        "region": {
                            "startLine": f.line,
                            "endLine": f.end_line,
                            "startColumn": f.start_column,
                            "endColumn": f.end_column + 1,
                        },
                    }
                }
            ],
            "partialFingerprints": {"cieventsFingerprint/v1": f.fingerprint},
        }
        for f in findings
    ]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "cievents",
                        "version": version,
                        "informationUri": "https://github.com/ci-event-functions",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
