"""The ingest floor: check the same GitHub HMAC and publish with the same client. Nothing else.

Served by bench/ingest_latency.py under functions-framework exactly as ingest is, so
the difference between the two is what ingest itself adds on the request path.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

import google.cloud.pubsub_v1 as pubsub_v1

SECRET = os.environ["WEBHOOK_SECRET_GITHUB"].encode()
TOPIC = f"projects/{os.environ['GOOGLE_CLOUD_PROJECT']}/topics/{os.environ['CIEVENTS_TOPIC']}"
CLIENT = pubsub_v1.PublisherClient()


def ingest(request: Any) -> tuple[str, int]:
    body = request.get_data()
    sent = request.headers.get("X-Hub-Signature-256", "")
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(sent, expected):
        return "", 401
    delivery = request.headers.get("X-GitHub-Delivery", "")
    CLIENT.publish(TOPIC, body, source="github", delivery_id=delivery).result(timeout=10)
    return "", 202
