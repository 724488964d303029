"""Webhook authentication for the six vendors, and the cheap facts ingest publishes.

``verify(source, headers, body, secrets, now)`` raises a ``Refusal`` (with the
HTTP status to answer) unless the request carries that vendor's proof, made
with one of the configured secrets (several, for rotation). Every comparison
is constant-time; no secret or signature ever reaches a log line or the
refusal text.

===============  ==============================================================
buildkite        ``X-Buildkite-Signature: timestamp=T,signature=hex(HMAC-SHA256(s, "T.body"))``
                 with a replay window, or ``X-Buildkite-Token: s``
github           ``X-Hub-Signature-256: sha256=hex(HMAC-SHA256(s, body))``
gitlab           ``X-Gitlab-Token: s``, or Standard Webhooks ``webhook-signature:
                 v1,base64(HMAC-SHA256(s, "id.timestamp.body"))`` (signing tokens)
bitbucket        ``X-Hub-Signature: sha256=hex(HMAC-SHA256(s, body))``
azure-devops     HTTP Basic auth whose password is s (any user name), or the
                 header ``X-Cievents-Token: s`` typed into the subscription
jira             ``X-Hub-Signature: sha256=hex(HMAC-SHA256(s, body))``, or
                 ``?token=s`` in the webhook URL for webhooks without a secret
===============  ==============================================================
"""

from __future__ import annotations

from cievents.webhooks.verify import SOURCES, Refusal, verify

__all__ = ["SOURCES", "Refusal", "verify"]
