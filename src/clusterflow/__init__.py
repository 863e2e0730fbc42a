"""clusterflow: SageMaker PCA + K-Means on MNIST as an event-driven serverless app, also runnable offline."""

__version__ = "0.1.0"
