"""The cold-start floor: functions-framework, the function's SDKs imported and their clients built.

bench/cold_start.py serves this module in place of a function, with ``FLOOR_EXTRAS``
set to that function's manifest ``extras``; it answers the same first request
without doing the function's work. Clients are built as the library builds them
(emulator hosts and fakes' URLs come from the same environment).
"""

from __future__ import annotations

import os
from typing import Any

EXTRAS = [e for e in os.environ.get("FLOOR_EXTRAS", "").split(",") if e]
PROJECT = os.environ.get("GOOGLE_CLOUD_PROJECT", "cievents-bench")
CLIENTS: list[Any] = []

if "slack" in EXTRAS:
    from slack_sdk import WebClient

    CLIENTS.append(WebClient(token="xoxb-floor", base_url=os.environ.get("SLACK_API_URL")))
if "firestore" in EXTRAS:
    from google.cloud import firestore

    CLIENTS.append(firestore.Client(project=PROJECT))
if "pubsub" in EXTRAS or "ingest" in EXTRAS:
    import google.cloud.pubsub_v1 as pubsub_v1

    CLIENTS.append(pubsub_v1.PublisherClient())
if "jira" in EXTRAS:
    from jira import JIRA

    CLIENTS.append(
        JIRA(server=os.environ.get("JIRA_URL", ""), basic_auth=("a", "b"), get_server_info=False)
    )
if "bigquery" in EXTRAS and os.environ.get("METRICS_BACKEND") == "duckdb":
    # The benchmark runs bigquery_metrics on its local backend (no BigQuery here): the
    # floor opens the same database the function writes to.
    import duckdb

    CLIENTS.append(duckdb.connect(":memory:"))
elif "bigquery" in EXTRAS:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    CLIENTS.append(bigquery.Client(project=PROJECT, credentials=AnonymousCredentials()))
if "storage" in EXTRAS:
    import google.cloud.storage as storage

    CLIENTS.append(storage.Client(project=PROJECT))
if "scan" in EXTRAS:
    import hyperscan  # noqa: F401
if "http" in EXTRAS:
    import requests

    CLIENTS.append(requests.Session())
if "jwt" in EXTRAS:
    import jwt  # noqa: F401


def handle(request: Any) -> tuple[str, int]:
    request.get_data()
    return "", 204


ingest = handle
health = handle
