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
    # RSS MB per command name at the moment of the peak: which process holds the memory.
    peak_breakdown: dict[str, float] = field(default_factory=dict)

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


def _command_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return "?"


def tree_rss_by_command(root: int) -> dict[str, float]:
    """RSS MB of the tree, summed per command name (python, java, ...)."""
    by_name: dict[str, float] = {}
    for pid in _tree_pids(root):
        name = _command_name(pid)
        by_name[name] = by_name.get(name, 0.0) + _rss_bytes(pid) / 2**20
    return by_name


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
    peak: dict[str, float] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            by_name = tree_rss_by_command(process.pid)
            total = sum(by_name.values())
            if total > sum(peak.values()):
                peak.clear()
                peak.update(by_name)
            samples.append((time.perf_counter() - started, total))
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
        peak_breakdown={name: round(mb, 1) for name, mb in peak.items()},
    )
