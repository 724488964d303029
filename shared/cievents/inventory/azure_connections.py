"""Azure DevOps service connections: the pipeline security monitor of the inventory.

    findings = audit_service_connections(repos, client, now)   # repos: the inventory's

For each Azure DevOps project holding an inventoried repository (``Repo.owner`` is
``ORG/PROJECT``), every service connection is read (``GET
/{org}/{project}/_apis/serviceendpoint/endpoints``, continuation tokens, api-version 7.1)
with its pipeline permissions (``GET
/{org}/{project}/_apis/pipelines/pipelinePermissions/endpoint/{id}``, 7.1-preview.1), and
three gaps are findings on ``security-findings`` (family ``posture``, as the repository
audit's):

``azure-connection-all-pipelines``      ``allPipelines.authorized``: every pipeline of the
                                        project, present and future, may use it
                                        (severity high).
``azure-connection-long-lived-secret``  authorization scheme ``ServicePrincipal`` (a client
                                        secret, ``spnKey``, or a certificate) on a type that
                                        can use workload identity federation
                                        (``WIF_TYPES``).
``azure-connection-shared``             ``serviceEndpointProjectReferences`` names more than
                                        one project: one identity reaches several projects.

The endpoint's ``authorization.parameters`` (which may hold a secret) are never copied into
a finding: only the scheme and ``authenticationType``. Fingerprints are stable: the rule,
the connection id and (for the per-project permission) the project.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from cievents.errors import RejectedError, UnknownTargetError
from cievents.findings import FindingMessage
from cievents.inventory.model import Repo
from cievents.inventory.posture import make_finding
from cievents.inventory.protection import azure_list, read_api

__all__ = ["PERMISSIONS_API_VERSION", "WIF_TYPES", "audit_service_connections", "projects_of"]

PERMISSIONS_API_VERSION = "7.1-preview.1"
# Connection types that can authenticate with workload identity federation instead of a secret.
WIF_TYPES = frozenset({"azurerm", "dockerregistry"})
LONG_LIVED = {"spnkey": "a client secret", "spncertificate": "a certificate"}


def projects_of(repos: Iterable[Repo]) -> list[tuple[str, str]]:
    """The distinct (organization, project) pairs of the inventory's Azure repositories."""
    seen: dict[tuple[str, str], None] = {}
    for repo in repos:
        if repo.scm == "azure" and not repo.deleted and "/" in repo.owner:
            org, _, project = repo.owner.partition("/")
            seen.setdefault((org, project), None)
    return list(seen)


def audit_service_connections(
    repos: Iterable[Repo], client: Any, now: datetime
) -> list[FindingMessage]:
    """Every service-connection finding of the projects the repositories are in."""
    out: list[FindingMessage] = []
    for org, project in projects_of(repos):
        out += audit_project(org, project, client, now)
    return out


def audit_project(org: str, project: str, client: Any, now: datetime) -> list[FindingMessage]:
    api = read_api(client)
    base = f"/{quote(org, safe='')}/{quote(project, safe='')}/_apis"
    endpoints = azure_list(api, org, project, "serviceendpoint/endpoints", "service connections")
    out: list[FindingMessage] = []
    for endpoint in endpoints:
        if not isinstance(endpoint, Mapping) or not endpoint.get("id"):
            continue
        permissions = _permissions(api, base, str(endpoint["id"]), f"{org}/{project}")
        out += _findings(org, project, endpoint, permissions, now)
    return out


def _permissions(api: Any, base: str, endpoint_id: str, where: str) -> Mapping[str, Any]:
    try:
        answer = api.get(
            f"{base}/pipelines/pipelinePermissions/endpoint/{quote(endpoint_id, safe='')}",
            {"api-version": PERMISSIONS_API_VERSION},
            what=f"azure-devops: pipeline permissions of {endpoint_id} in {where}",
        )
    except (RejectedError, UnknownTargetError):
        return {}  # not readable with this PAT: say nothing rather than guess
    return answer if isinstance(answer, Mapping) else {}


def _findings(
    org: str,
    project: str,
    endpoint: Mapping[str, Any],
    permissions: Mapping[str, Any],
    now: datetime,
) -> list[FindingMessage]:
    endpoint_id, name = str(endpoint["id"]), str(endpoint.get("name") or endpoint["id"])
    kind = str(endpoint.get("type") or "").lower()
    authorization = endpoint.get("authorization") or {}
    scheme = str(authorization.get("scheme") or "")
    auth_type = str((authorization.get("parameters") or {}).get("authenticationType") or "")
    references = [
        str((r.get("projectReference") or {}).get("name") or r.get("name") or "?")
        for r in endpoint.get("serviceEndpointProjectReferences") or []
        if isinstance(r, Mapping)
    ]
    path = f"{org}/{project}"
    setting: dict[str, Any] = {
        "connection": name,
        "type": kind,
        "scheme": scheme,
        "projects": references,
    }
    if auth_type:
        setting["authenticationType"] = auth_type

    def finding(rule: str, detail: str, subject: str) -> FindingMessage:
        return make_finding(
            rule,
            detail,
            now,
            scm="azure",
            asset=f"serviceendpoint/{endpoint_id}",
            path=path,
            kind="service-connection",
            subject=subject,
            setting=setting,
            repository=f"{path}/_settings/adminservices?resourceId={endpoint_id}",
        )

    out = []
    if (permissions.get("allPipelines") or {}).get("authorized"):
        out.append(
            finding(
                "azure-connection-all-pipelines",
                f"service connection {name!r} in {path} is open to all pipelines",
                project,
            )
        )
    if kind in WIF_TYPES and scheme.lower() == "serviceprincipal":
        secret = LONG_LIVED.get(auth_type.lower(), "a long-lived credential")
        out.append(
            finding(
                "azure-connection-long-lived-secret",
                f"service connection {name!r} authenticates with {secret}; "
                "workload identity federation is available",
                "",
            )
        )
    if len(references) > 1:
        out.append(
            finding(
                "azure-connection-shared",
                f"service connection {name!r} is shared by {len(references)} projects: "
                + ", ".join(sorted(references)),
                "",
            )
        )
    return out
