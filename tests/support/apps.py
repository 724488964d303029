"""A function behind the real functions-framework app, with its settings in the environment.

Every function reads its settings at import, so the environment is set first and the
app built after; monkeypatch undoes the settings when the test ends.
"""

from __future__ import annotations

from collections.abc import Mapping

import functions_framework
import pytest
from flask.testing import FlaskClient


def function_client(
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    env: Mapping[str, str] = {},
    signature_type: str = "cloudevent",
    target: str = "handle",
) -> FlaskClient:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = functions_framework.create_app(
        target=target, source=source, signature_type=signature_type
    )
    return app.test_client()
