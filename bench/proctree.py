"""Run one command in its own process and measure wall time and peak memory of its whole process tree.

Memory is the peak of the summed resident set of the process and all its descendants (Spark's JVM
included), sampled from /proc every 20 ms. (The kernel's ru_maxrss is no use here: it counts the
harness's own pages, shared with the child between fork and exec.)
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_SAMPLE_SECONDS = 0.02


@dataclass
class Measured:
    command: list[str]
    returncode: int
    started_epoch: float
    wall_s: float
    peak_tree_rss_mb: float
    # (seconds since start, tree RSS MB): lets a caller cut the peak at a moment the child reports.
    samples: list[tuple[float, float]] = field(default_factory=list)
    log_path: str | None = None

    def peak_tree_rss_until(self, seconds: float) -> float:
        within = [rss for t, rss in self.samples if t <= seconds]
        return max(within) if within else self.peak_tree_rss_mb


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                raw = stat.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields resume after the last ')'.
        fields = raw[raw.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def _tree_pids(root: int) -> list[int]:
    children = _children_by_parent()
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_mb(root: int) -> float:
    return sum(_rss_bytes(pid) for pid in _tree_pids(root)) / 2**20


def run_measured(
    command: list[str],
    *,
    log_path: Path | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 3600,
) -> Measured:
    """Run `command` to completion; stdout and stderr go to `log_path` (or are discarded)."""
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    started_epoch = time.time()
    started = time.perf_counter()
    try:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    finally:
        if log_path:
            log.close()  # type: ignore[union-attr]
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter() - started, tree_rss_mb(process.pid)))
            stop.wait(_SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    timer = threading.Timer(timeout_s, process.kill)
    timer.start()
    try:
        _, status = os.waitpid(process.pid, 0)
    finally:
        timer.cancel()
        stop.set()
        sampler.join()
    wall_s = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        command=command,
        returncode=process.returncode,
        started_epoch=started_epoch,
        wall_s=wall_s,
        peak_tree_rss_mb=max((rss for _, rss in samples), default=0.0),
        samples=samples,
        log_path=str(log_path) if log_path else None,
    )
