"""Fixtures for the hosting tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="module")
def _single_blas_thread() -> Iterator[None]:
    """One BLAS thread per test process: with pytest -n 2 on 2 cores, OpenBLAS's spinning threads
    oversubscribe the cores and a 784x784 eigh slows from 0.4 s to 8 s."""
    with threadpool_limits(limits=1):
        yield
