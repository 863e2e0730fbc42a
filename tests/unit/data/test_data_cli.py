from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from clusterflow.cli.data import data
from clusterflow.formats.libsvm import read_libsvm


def test_mnist_sample_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(data, ["mnist-sample", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(tmp_path / "train.libsvm"), str(tmp_path / "test.libsvm")]
    assert read_libsvm(tmp_path / "test.libsvm", 784)[1].shape == (1000, 784)


def test_mnist_sample_bad_fraction_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(data, ["mnist-sample", "--out", str(tmp_path), "--test-fraction", "1.5"])
    assert result.exit_code == 2 and "test_fraction" in result.output


def test_idx_command(tmp_path: Path) -> None:
    images = np.arange(5 * 784, dtype=np.int64).reshape(5, 28, 28) % 256
    (tmp_path / "img.gz").write_bytes(
        gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", 5, 28, 28) + images.astype(np.uint8).tobytes())
    )
    (tmp_path / "lab").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 5) + bytes([3, 1, 4, 1, 5]))
    out = tmp_path / "mnist.libsvm"
    args = ["idx", "--images", str(tmp_path / "img.gz"), "--labels", str(tmp_path / "lab"), "--out", str(out)]
    result = CliRunner().invoke(data, [*args, "--limit", "4"])
    assert result.exit_code == 0, result.output
    assert "4 rows" in result.output
    labels, X = read_libsvm(out, 784)
    assert labels.tolist() == [3, 1, 4, 1] and np.array_equal(X, images[:4].reshape(4, 784))


def test_idx_command_refuses_a_non_idx_file(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"hello")
    args = [
        "idx",
        "--images",
        str(tmp_path / "x"),
        "--labels",
        str(tmp_path / "x"),
        "--out",
        str(tmp_path / "o"),
    ]
    result = CliRunner().invoke(data, args)
    assert result.exit_code == 2 and "bad magic" in result.output and str(tmp_path / "x") in result.output
