"""Every module here runs torch on one thread: others share this 2-core CPU."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import torch_threads


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield
