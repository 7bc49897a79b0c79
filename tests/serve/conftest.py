"""Fixtures for the serve tests: in-process clients with fake or real recognisers."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .helpers import FakeFace, FakeVoice, make_face_model



def pytest_configure(config):
    # Newer Starlette nags about httpx in its TestClient; the client still works as documented.
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture
def fake_face() -> FakeFace:
    return FakeFace()


@pytest.fixture
def fake_voice() -> FakeVoice:
    return FakeVoice()


@pytest.fixture
def make_client() -> Callable[..., Any]:
    """``with make_client(face=..., voice=..., **settings) as client:`` runs the app's lifespan."""
    from fastapi.testclient import TestClient

    from emorec.serve.app import create_app
    from emorec.serve.settings import ServeSettings

    @contextmanager
    def factory(face: Any = None, voice: Any = None, raise_server_exceptions: bool = True,
                **settings: Any) -> Iterator[Any]:
        app = create_app(ServeSettings(**settings), face=face, voice=voice)
        with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
            client.app_ref = app
            yield client

    return factory


@pytest.fixture
def client(make_client, fake_face, fake_voice):
    with make_client(face=fake_face, voice=fake_voice) as c:
        yield c


@pytest.fixture(scope="session")
def synthetic_face_model(tmp_path_factory) -> Path:
    return make_face_model(tmp_path_factory.mktemp("serve_models") / "face.onnx")
