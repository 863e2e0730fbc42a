"""MXNet NDArray list files and SageMaker `model.tar.gz` artifacts for PCA and K-Means."""

from clusterflow.artifacts.model import (
    KMeansModel,
    Model,
    PCAModel,
    load_kmeans_model,
    load_model,
    load_pca_model,
    read_model_member,
    write_model_tar,
)
from clusterflow.artifacts.ndarray import dumps_ndarray_list, loads_ndarray_list

__all__ = [
    "KMeansModel",
    "Model",
    "PCAModel",
    "dumps_ndarray_list",
    "load_kmeans_model",
    "load_model",
    "load_pca_model",
    "loads_ndarray_list",
    "read_model_member",
    "write_model_tar",
]
