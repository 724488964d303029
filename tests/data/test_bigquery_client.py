"""The real google-cloud-bigquery client: against bqemulator, and against a local insertAll.

bqemulator (PyPI) runs in its own venv (its DuckDB pin differs from ours) with
the DuckDB spatial extension from the ``duckdb-extension-spatial`` package,
placed in a private extension directory so it starts offline. Its documented
differences from BigQuery: it keeps duplicate insertIds (the ``builds_latest``
view removes them) and answers 500 to a row with a bad type (so the client gets
a short retry deadline). The error *list* that real BigQuery returns for
rejected rows is tested against a local server speaking ``insertAll``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cievents.errors import PermanentError, TransientError
from cievents.metrics.bigquery_store import BigQueryStore
from tests.support import tools
from tests.support.emulators import free_port, start_server
from tests.support.fakehttp import FakeServer, Reply

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-bqemulator"


def _client(endpoint: str) -> Any:
    import google.cloud.bigquery as bigquery
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project="local",
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
    )


@pytest.fixture(scope="module")
def bqemulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = tools.venv_tool(".venv-bqemulator", "bqemulator")  # pinned by the Makefile
    home = tmp_path_factory.mktemp("bqhome")
    site = next((VENV / "lib").glob("python*/site-packages"))
    extension = (
        site / "duckdb_extension_spatial" / "extensions" / "v1.5.5" / "spatial.duckdb_extension"
    )
    target = home / ".duckdb" / "extensions" / "v1.5.5" / "linux_amd64"
    target.mkdir(parents=True)
    shutil.copy(extension, target)
    port = free_port()
    argv = [
        str(binary),
        "start",
        "--rest-port",
        str(port),
        "--grpc-port",
        str(free_port()),
        "--project",
        "local",
    ]
    with start_server(argv, port, timeout=60, env={"HOME": str(home)}) as server:
        yield f"http://{server.host}"


@pytest.mark.slow
def test_tables_rows_and_views_on_bqemulator(bqemulator: str) -> None:
    client = _client(bqemulator)
    store = BigQueryStore("local", "ci_metrics", client=client, deadline_s=3)
    store.ensure()
    builds = client.get_table("local.ci_metrics.builds")
    assert builds.time_partitioning.field == "finished_at"
    assert builds.clustering_fields == ["pipeline", "branch"]
    assert {f.name for f in builds.schema} >= {"insert_id", "pipeline", "finished_at", "run_s"}
    row = {
        "insert_id": "b1:passed",
        "build_id": "b1",
        "pipeline": "web",
        "number": 1,
        "state": "passed",
        "finished_at": "2026-11-20T10:00:00Z",
        "ingested_at": "2026-11-20T10:00:01Z",
        "run_s": 12.5,
    }
    assert store.insert("builds", [row]) == 1
    assert store.insert("builds", [row]) == 1  # a redelivery: the emulator keeps both rows…
    total = list(client.query("SELECT COUNT(*) AS n FROM `local.ci_metrics.builds`").result())
    assert total[0].n == 2
    # …and the dedup the builds_latest view applies (BigQuery SQL, run by the emulator) leaves one.
    dedup = list(
        client.query(
            "SELECT COUNT(*) AS n FROM (SELECT * FROM `local.ci_metrics.builds` "
            "QUALIFY ROW_NUMBER() OVER (PARTITION BY insert_id ORDER BY ingested_at) = 1)"
        ).result()
    )
    assert dedup[0].n == 1
    bad = dict(row, insert_id="b2:passed", build_id="b2", number="not-a-number")
    with pytest.raises(TransientError):  # the emulator answers 500 where BigQuery lists the error
        store.insert("builds", [bad])


def test_rejected_rows_in_the_error_list_are_permanent() -> None:
    fake = FakeServer()

    @fake.route("GET", "/bigquery/v2/projects/local/datasets/ci_metrics/tables/(?P<t>\\w+)")
    def table(req: Any) -> Reply:
        return Reply(
            200,
            {
                "tableReference": {
                    "projectId": "local",
                    "datasetId": "ci_metrics",
                    "tableId": req.match.group("t"),
                }
            },
        )

    @fake.route("POST", "/bigquery/v2/projects/local/datasets/ci_metrics/tables/builds/insertAll")
    def insert_all(req: Any) -> Reply:
        body = req.json()
        assert [r["insertId"] for r in body["rows"]] == ["b9:failed"]
        return Reply(
            200,
            {
                "kind": "bigquery#tableDataInsertAllResponse",
                "insertErrors": [
                    {
                        "index": 0,
                        "errors": [
                            {
                                "reason": "invalid",
                                "location": "number",
                                "message": "Cannot convert value to integer.",
                            }
                        ],
                    }
                ],
            },
        )

    with fake:
        store = BigQueryStore("local", "ci_metrics", client=_client(fake.url), deadline_s=3)
        with pytest.raises(PermanentError, match="Cannot convert value to integer") as info:
            store.insert("builds", [{"insert_id": "b9:failed", "number": "x"}])
        assert info.value.reason == "rejected_row"
