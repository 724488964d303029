"""Azure DevOps service connections, audited through the real Azure Repos client against the
loopback Azure DevOps API: connections continued over pages, pipeline permissions per
connection, a 502 once and a 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cievents import clock
from cievents.inventory.azure_connections import audit_service_connections, projects_of
from cievents.inventory.model import Repo
from cievents.scm.azure import AzureReposClient
from tests.support.fakehttp import Fault, Reply
from tests.support.fakes.azure_devops import FakeAzureDevOps

PAT = "azdopat" + "S3rv1ce" * 6
SECRET = "spn-client-secret-" + "Zx9" * 8  # what Azure would return as a key (it masks it)


@pytest.fixture
def fake() -> Iterator[FakeAzureDevOps]:
    server = FakeAzureDevOps(pats=(PAT,), page_size=2).start()
    yield server
    server.stop()


def client(fake: FakeAzureDevOps) -> AzureReposClient:
    return AzureReposClient(base_url=fake.url, token=PAT, max_pages=10)


def repo(owner: str, name: str, id_: str) -> Repo:
    return Repo(
        scm="azure",
        id=id_,
        owner=owner,
        name=name,
        full_name=f"{owner}/{name}",
        web_url=f"https://dev.azure.com/{owner}/_git/{name}",
        visibility="private",
        default_branch="main",
    )


def endpoint(id_: str, name: str, kind: str, scheme: str, auth: str = "", projects: int = 1) -> Any:
    parameters: dict[str, str] = {"tenantid": "t", "serviceprincipalid": "sp"}
    if auth:
        parameters["authenticationType"] = auth
    if auth == "spnKey":
        parameters["serviceprincipalkey"] = SECRET
    return {
        "id": id_,
        "name": name,
        "type": kind,
        "url": "https://management.azure.com/",
        "authorization": {"scheme": scheme, "parameters": parameters},
        "isShared": projects > 1,
        "serviceEndpointProjectReferences": [
            {"projectReference": {"id": f"p{i}", "name": f"Project {i}"}, "name": name}
            for i in range(projects)
        ],
    }


REPOS = [
    repo("fabrikam/Web", "site", "r1"),
    repo("fabrikam/Web", "api", "r2"),  # same project: read once
    repo("fabrikam/Data", "etl", "r3"),
]


def seed(fake: FakeAzureDevOps) -> None:
    fake.endpoints["fabrikam/Web"] = [
        endpoint("e1", "prod-arm", "azurerm", "ServicePrincipal", "spnKey"),
        endpoint("e2", "wif-arm", "azurerm", "WorkloadIdentityFederation"),
        endpoint("e3", "github", "github", "PersonalAccessToken"),  # no federation for it
        endpoint("e4", "shared-acr", "dockerregistry", "ServicePrincipal", "spnCertificate", 3),
    ]
    fake.endpoints["fabrikam/Data"] = [
        endpoint("e4", "shared-acr", "dockerregistry", "ServicePrincipal", "spnCertificate", 3),
        endpoint("e5", "msi", "azurerm", "ManagedServiceIdentity"),
    ]
    fake.endpoint_permissions["e1"] = {"allPipelines": {"authorized": True}, "pipelines": []}
    fake.endpoint_permissions["e2"] = {"allPipelines": {"authorized": False}}
    fake.endpoint_permissions["e3"] = {"pipelines": [{"id": 7, "authorized": True}]}


def by_rule(findings: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for f in findings:
        out.setdefault(f.rule_id, []).append(f)
    return out


def test_projects_of_the_inventory() -> None:
    assert projects_of(REPOS) == [("fabrikam", "Web"), ("fabrikam", "Data")]
    gone = REPOS[2].with_(deleted=True)
    assert projects_of([REPOS[0], gone, REPOS[0].with_(scm="github")]) == [("fabrikam", "Web")]


def test_the_three_gaps(fake: FakeAzureDevOps) -> None:
    seed(fake)
    found = by_rule(audit_service_connections(REPOS, client(fake), clock.now_utc()))
    assert sorted(found) == [
        "azure-connection-all-pipelines",
        "azure-connection-long-lived-secret",
        "azure-connection-shared",
    ]
    (open_all,) = found["azure-connection-all-pipelines"]
    assert open_all.location["setting"]["connection"] == "prod-arm"
    assert open_all.severity == "high" and open_all.location["kind"] == "service-connection"
    assert open_all.location["path"] == "fabrikam/Web"
    long_lived = {
        f.location["setting"]["connection"]: f for f in found["azure-connection-long-lived-secret"]
    }
    assert sorted(long_lived) == ["prod-arm", "shared-acr"]  # not wif-arm, github, msi
    assert "a client secret" in long_lived["prod-arm"].preview
    assert "a certificate" in long_lived["shared-acr"].preview
    # e4 is seen in both projects: one fingerprint per gap, so one work item each
    assert len({f.fingerprint for f in found["azure-connection-shared"]}) == 1
    assert len({f.fingerprint for f in found["azure-connection-long-lived-secret"]}) == 2
    assert "shared by 3 projects" in found["azure-connection-shared"][0].preview
    # every endpoint's permissions read once, the Web project's list once (two pages)
    assert len(fake.calls("GET", r"/fabrikam/Web/_apis/serviceendpoint/endpoints")) == 2
    assert (
        len(fake.calls("GET", r"/fabrikam/Web/_apis/pipelines/pipelinePermissions/endpoint/e1"))
        == 1
    )


def test_fingerprints_are_stable_and_no_secret_is_copied(fake: FakeAzureDevOps) -> None:
    seed(fake)
    first = audit_service_connections(REPOS, client(fake), clock.now_utc())
    fake.endpoints["fabrikam/Web"][0]["name"] = "prod-arm-renamed"
    again = audit_service_connections(REPOS, client(fake), clock.now_utc())
    assert sorted(f.fingerprint for f in first) == sorted(f.fingerprint for f in again)
    for finding in first + again:
        text = finding.to_bytes().decode()
        assert SECRET not in text and PAT not in text and "serviceprincipalkey" not in text


def test_fixed_connections_give_nothing(fake: FakeAzureDevOps) -> None:
    seed(fake)
    fake.endpoints["fabrikam/Web"] = [
        endpoint("e2", "wif-arm", "azurerm", "WorkloadIdentityFederation")
    ]
    fake.endpoints["fabrikam/Data"] = []
    assert audit_service_connections(REPOS, client(fake), clock.now_utc()) == []


def test_a_failing_page_a_rate_limit_and_an_unreadable_permission(fake: FakeAzureDevOps) -> None:
    seed(fake)
    fake.fault(
        "GET", r"/fabrikam/Web/_apis/serviceendpoint/endpoints", Fault("status", 502, {}, "x")
    )
    fake.queue(
        "GET",
        r"/fabrikam/Web/_apis/pipelines/pipelinePermissions/endpoint/e1",
        Reply(429, {"message": "TF400733: request was blocked"}, {"Retry-After": "1"}),
    )
    fake.queue(
        "GET",
        r"/fabrikam/Data/_apis/pipelines/pipelinePermissions/endpoint/e5",
        Reply(403, {"message": "TF400813: not authorized"}),
    )
    started = clock.now()
    found = by_rule(audit_service_connections(REPOS, client(fake), clock.now_utc()))
    assert clock.now() - started >= 1.0
    assert len(found["azure-connection-all-pipelines"]) == 1  # e1 read after the 429
    assert len(fake.calls("GET", r"/fabrikam/Web/_apis/serviceendpoint/endpoints")) == 3
