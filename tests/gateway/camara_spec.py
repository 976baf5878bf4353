"""Conformance helpers: validate gateway answers against the CAMARA definitions in ``../shared/camara/specs``.

Tests call :func:`spec` (skips the test, with a message, when the folder is absent) and :func:`assert_conforms`;
:func:`assert_schema` checks a body against one component schema (callback bodies, which openapi-core does not
validate as responses).
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

CAMARA = Path(os.environ.get("OPSIM_CAMARA_DIR") or Path(__file__).resolve().parents[3] / "shared" / "camara")
"""``/work/shared/camara`` beside the repository."""
SPEC_HOST = "http://localhost:9091"


@cache
def _load(name: str) -> Any:
    from openapi_core import OpenAPI

    return OpenAPI.from_file_path(str(CAMARA / "specs" / name))


def spec(name: str) -> Any:
    """The openapi-core ``OpenAPI`` of ``specs/<name>``; skips the calling test when the file is absent."""
    if not (CAMARA / "specs" / name).is_file():
        pytest.skip(f"CAMARA definitions not found at {CAMARA} (needed for conformance tests)")
    return _load(name)


def assert_conforms(api: Any, method: str, path: str, status: int, body: Any,
                    request_body: Any = None) -> None:
    """Raise unless ``body`` is a valid ``status`` answer of ``method path`` (``path`` as under the server URL)."""
    from openapi_core.testing import MockRequest, MockResponse

    request = MockRequest(SPEC_HOST, method.lower(), path,
                          data=None if request_body is None else json.dumps(request_body).encode(),
                          content_type="application/json")
    response = MockResponse(json.dumps(body).encode(), status_code=status, content_type="application/json")
    api.validate_response(request, response)


@cache
def _schema_validator(name: str, schema: str) -> Any:
    import yaml
    from openapi_schema_validator import OAS30Validator

    document = yaml.safe_load((CAMARA / "specs" / name).read_text())
    return OAS30Validator({"$ref": f"#/components/schemas/{schema}", "components": document["components"]})


def assert_schema(name: str, schema: str, body: Any) -> None:
    """Raise unless ``body`` is valid against ``#/components/schemas/<schema>`` of ``specs/<name>`` (or skip)."""
    spec(name)
    errors = [e.message for e in _schema_validator(name, schema).iter_errors(body)]
    assert not errors, errors
