"""Checks for the Google services: BigQuery, Cloud Storage, Pub/Sub and Firestore.

Each SDK is imported inside its check, so ``cievents check`` loads only what
is configured. The GCS check proves write permission the only honest way:
it creates a probe object and deletes it again.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from typing import Any

from cievents import clock
from cievents.checks.base import Check, CheckFailedError

Env = Mapping[str, str]


def _project(env: Env) -> str | None:
    return env.get("BIGQUERY_PROJECT") or env.get("GOOGLE_CLOUD_PROJECT") or None


def bigquery_client(env: Env) -> object:
    """The real client; ``BIGQUERY_EMULATOR_HOST`` points it at a local emulator."""
    import google.cloud.bigquery as bigquery

    host = env.get("BIGQUERY_EMULATOR_HOST")
    if host:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        endpoint = host if host.startswith("http") else f"http://{host}"
        return bigquery.Client(
            project=_project(env) or "local",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=endpoint),
        )
    return bigquery.Client(project=_project(env))


def bigquery_checks(env: Env, timeout_s: float) -> list[Check]:
    dataset = env.get("BIGQUERY_DATASET", "")
    if not dataset or env.get("METRICS_BACKEND", "bigquery") == "duckdb":
        return []
    tables = ("builds", "jobs")

    def probe() -> str:
        from google.api_core import exceptions as gexc

        client: Any = bigquery_client(env)
        try:
            client.get_dataset(dataset, timeout=timeout_s)
        except gexc.NotFound:
            raise CheckFailedError(
                f"dataset {dataset} not found",
                "apply the Terraform in infra/ or create the dataset",
            ) from None
        except gexc.Forbidden:
            raise CheckFailedError(
                f"no access to dataset {dataset}", "grant roles/bigquery.dataEditor on the dataset"
            ) from None
        missing = []
        for table in tables:
            try:
                client.get_table(f"{dataset}.{table}", timeout=timeout_s)
            except gexc.NotFound:
                missing.append(table)
        if missing:
            raise CheckFailedError(
                f"missing tables: {', '.join(missing)}",
                "the function creates them on first use, or apply infra/",
            )
        return f"dataset {dataset} with tables {', '.join(tables)}"

    return [
        Check(
            "bigquery",
            dataset,
            probe,
            "check BIGQUERY_DATASET and the service account",
            ("bigquery_metrics", "pr_compliance"),
            ("google.cloud.bigquery",),
        )
    ]


def gcs_checks(env: Env, timeout_s: float) -> list[Check]:
    bucket_name = env.get("ARCHIVE_BUCKET", "")
    if not bucket_name:
        return []

    def probe() -> str:
        import google.cloud.storage as storage
        from google.api_core import exceptions as gexc

        bucket = storage.Client(project=env.get("GOOGLE_CLOUD_PROJECT")).bucket(bucket_name)
        blob = bucket.blob(f"_cievents_probe/{uuid.uuid4().hex}")
        try:
            blob.upload_from_string(b"probe", if_generation_match=0, timeout=timeout_s)
        except gexc.NotFound:
            raise CheckFailedError(
                f"bucket {bucket_name} not found", "create it or fix ARCHIVE_BUCKET"
            ) from None
        except gexc.Forbidden:
            raise CheckFailedError(
                f"cannot write to {bucket_name}", "grant roles/storage.objectCreator on the bucket"
            ) from None
        try:
            blob.delete(timeout=timeout_s)
        except gexc.Forbidden:
            # objectCreator may create but not delete: write permission is what matters.
            return f"wrote a probe object to {bucket_name} (delete not permitted)"
        return f"created and deleted a probe object in {bucket_name}"

    return [
        Check(
            "gcs",
            bucket_name,
            probe,
            "check ARCHIVE_BUCKET and the service account",
            ("gcs_archive",),
            ("google.cloud.storage",),
        )
    ]


def pubsub_checks(env: Env, timeout_s: float) -> list[Check]:
    project = env.get("GOOGLE_CLOUD_PROJECT", "")
    if not project:
        return []
    topics = [
        env.get("CIEVENTS_TOPIC", "ci-events"),
        env.get("CIEVENTS_FINDINGS_TOPIC", "security-findings"),
    ]
    checks = []
    # One client for every topic's probe (they run at once): a client each built its own
    # channel, a tenth of health's first answer for the second one.
    clients: list[Any] = []
    building = threading.Lock()

    def publisher_client() -> Any:
        with building:
            if not clients:
                import google.cloud.pubsub_v1 as pubsub_v1

                clients.append(pubsub_v1.PublisherClient())
            return clients[0]

    for topic in topics:

        def probe(topic: str = topic) -> str:
            from google.api_core import exceptions as gexc

            publisher = publisher_client()
            path = publisher.topic_path(project, topic)
            try:
                publisher.get_topic(request={"topic": path}, timeout=timeout_s)
            except gexc.NotFound:
                raise CheckFailedError(
                    f"topic {topic} not found", "apply infra/ or `make deploy`"
                ) from None
            except gexc.PermissionDenied:
                raise CheckFailedError(
                    f"no access to topic {topic}", "grant roles/pubsub.viewer (or publisher) on it"
                ) from None
            return f"topic {path} exists"

        checks.append(
            Check(
                "pubsub",
                topic,
                probe,
                "check GOOGLE_CLOUD_PROJECT and the topics",
                ("ingest", "secret_scan"),
                ("google.cloud.pubsub_v1",),
            )
        )
    return checks


def firestore_checks(env: Env, timeout_s: float) -> list[Check]:
    store = env.get("CIEVENTS_STORE", "firestore:" if env.get("K_SERVICE") else "")
    if not store.startswith("firestore"):
        return []
    collection = (store.partition(":")[2].strip("/") or "cievents") + "_claims"

    def probe() -> str:
        from cievents.idempotency.firestore import shared_client

        client = shared_client(env.get("GOOGLE_CLOUD_PROJECT"))
        ref = client.collection(collection).document(f"_probe_{uuid.uuid4().hex}")
        ref.create({"probe": True, "at": clock.now()}, timeout=timeout_s)
        ref.delete(timeout=timeout_s)
        return f"created and deleted a probe document in {collection}"

    return [
        Check(
            "firestore",
            collection,
            probe,
            "enable Firestore (native mode) and grant roles/datastore.user",
            (),
            ("google.cloud.firestore",),
        )
    ]
