"""A deterministic N-row MNIST-shaped libsvm data set: the sample digits shifted and deformed.

Rows are made in fixed blocks, each from its own seed, so any N gives the first N rows of one
endless stream; blocks are written as they are made, so memory stays at one block whatever N is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIDE = 28
BLOCK_ROWS = 5_000
_MAX_SHIFT = 3.0
_MAX_ROTATION = np.deg2rad(12.0)
_MAX_SHEAR = 0.15
_SCALE_RANGE = (0.9, 1.1)


def _affine_maps(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-image 2x2 inverse maps and offsets: output pixel p samples the source at A p + b."""
    angle = rng.uniform(-_MAX_ROTATION, _MAX_ROTATION, count)
    shear = rng.uniform(-_MAX_SHEAR, _MAX_SHEAR, count)
    scale = rng.uniform(*_SCALE_RANGE, count)
    shift = rng.uniform(-_MAX_SHIFT, _MAX_SHIFT, (count, 2))
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    maps = np.empty((count, 2, 2))
    maps[:, 0, 0], maps[:, 0, 1] = cos, -sin + shear
    maps[:, 1, 0], maps[:, 1, 1] = sin, cos
    centre = (SIDE - 1) / 2
    offsets = centre - np.einsum("nij,j->ni", maps, np.array([centre, centre])) - shift
    return maps, offsets


def deform(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Warp each (28, 28) image by its own random rotation, shear, scale and shift (bilinear, zero fill)."""
    count = len(images)
    maps, offsets = _affine_maps(rng, count)
    rows, cols = np.mgrid[0:SIDE, 0:SIDE]
    grid = np.stack([rows.ravel(), cols.ravel()]).astype(np.float64)
    source = np.einsum("nij,jp->nip", maps, grid) + offsets[:, :, None]
    r, c = source[:, 0, :], source[:, 1, :]
    r0, c0 = np.floor(r).astype(np.int64), np.floor(c).astype(np.int64)
    fr, fc = r - r0, c - c0
    padded = np.pad(images.reshape(count, SIDE, SIDE).astype(np.float64), ((0, 0), (1, 2), (1, 2)))
    image_index = np.arange(count)[:, None]

    def at(dr: int, dc: int) -> np.ndarray:
        rr = np.clip(r0 + dr + 1, 0, SIDE + 2)
        cc = np.clip(c0 + dc + 1, 0, SIDE + 2)
        return padded[image_index, rr, cc]

    warped = (
        at(0, 0) * (1 - fr) * (1 - fc)
        + at(0, 1) * (1 - fr) * fc
        + at(1, 0) * fr * (1 - fc)
        + at(1, 1) * fr * fc
    )
    return warped.reshape(count, SIDE * SIDE)


def _token_table(value_scale: float) -> np.ndarray:
    """'index:value' for every 1-based feature index and every 8-bit grey level."""
    levels = [f"{round(level * value_scale / 255, 6):g}" for level in range(256)]
    return np.array(
        [f"{index + 1}:{level}" for index in range(SIDE * SIDE) for level in levels], dtype=object
    )


def make_block(
    digits: np.ndarray, labels: np.ndarray, block: int, seed: int, block_rows: int = BLOCK_ROWS
) -> tuple[np.ndarray, np.ndarray]:
    """Block `block` of the stream: (grey levels uint8 (block_rows, 784), labels)."""
    rng = np.random.default_rng([seed, block])
    picks = rng.integers(0, len(digits), block_rows)
    warped = deform(digits[picks] * (255.0 / max(float(digits.max()), 1e-12)), rng)
    return np.clip(np.rint(warped), 0, 255).astype(np.uint8), labels[picks]


def write_scaled_libsvm(
    digits: np.ndarray,
    labels: np.ndarray,
    rows: int,
    out: Path,
    *,
    seed: int = 0,
    value_scale: float = 255.0,
    block_rows: int = BLOCK_ROWS,
) -> Path:
    """Write `rows` deformed digits to `out` as libsvm; values are grey levels mapped to [0, value_scale].

    The same seed and block_rows give the same stream: any `rows` writes a prefix of it."""
    tokens = _token_table(value_scale)
    index_base = np.arange(SIDE * SIDE) * 256
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(out.suffix + ".partial")
    with open(partial, "w", encoding="ascii") as sink:
        written, block = 0, 0
        while written < rows:
            grey, block_labels = make_block(digits, labels, block, seed, block_rows)
            take = min(block_rows, rows - written)
            lines = []
            for row, label in zip(grey[:take], block_labels[:take], strict=True):
                nonzero = np.flatnonzero(row)
                lines.append(f"{int(label)} " + " ".join(tokens[index_base[nonzero] + row[nonzero]]))
            sink.write("\n".join(lines) + "\n")
            written += take
            block += 1
    partial.replace(out)
    return out
