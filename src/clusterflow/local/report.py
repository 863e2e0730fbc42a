"""The report a `clusterflow local run` leaves in its output directory, and the history it reads.

`metrics.json` (the run's figures), `clusters.png` (the seed notebook's `displayClusters`: test
digits grouped by the cluster they were assigned), and `report.html`, which embeds everything
(no external CSS, JS or images) so it opens with no network.

The execution history (`GetExecutionHistory` events, moto's interpreter and AWS alike) gives the
per-state timings and the original error: each state visit starts with `<Type>StateEntered` and ends
with `<Type>StateExited` or, when its failure was caught or ended the run, at the next entry or the end.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

METRICS_FILE = "metrics.json"
CLUSTERS_PNG = "clusters.png"
REPORT_HTML = "report.html"
DIGITS_PER_CLUSTER = 12


@dataclass
class StateTiming:
    """One state of the execution: its name, the seconds from entering it to leaving it, how it ended."""

    name: str
    seconds: float
    status: str = "succeeded"
    visits: int = 1


@dataclass
class RunMetrics:
    """Everything `metrics.json` holds. Scores stay None when the run did not get that far."""

    execution_status: str
    run_id: str | None
    n_train: int = 0
    n_test: int = 0
    nmi: float | None = None
    ari: float | None = None
    purity: float | None = None
    train_msd: float | None = None
    test_msd: float | None = None
    states: list[StateTiming] = field(default_factory=list)
    training_jobs_started: int = 0
    leaked_resources: list[str] = field(default_factory=list)
    error: str | None = None
    k: int | None = None
    num_components: int | None = None
    wall_seconds: float | None = None
    clustered_set: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["error"] is None:
            del data["error"]
        return data


@dataclass(frozen=True)
class ClusterScores:
    nmi: float
    ari: float
    purity: float


def clustering_scores(
    labels: Sequence[int] | np.ndarray, clusters: Sequence[int] | np.ndarray
) -> ClusterScores:
    """NMI (arithmetic mean normalisation, scikit-learn's default), ARI and purity of clusters vs labels."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    y = np.asarray(labels, dtype=np.int64)
    c = np.asarray(clusters, dtype=np.int64)
    if y.shape != c.shape or y.size == 0:
        raise ValueError(f"need as many labels as clusters (and at least one): {y.shape} vs {c.shape}")
    table = confusion_matrix(y, c)
    purity = float(table.max(axis=1).sum() / y.size)
    return ClusterScores(
        nmi=float(normalized_mutual_info_score(y, c)),
        ari=float(adjusted_rand_score(y, c)),
        purity=purity,
    )


def confusion_matrix(labels: np.ndarray, clusters: np.ndarray, k: int | None = None) -> np.ndarray:
    """Counts with one row per cluster (0..k-1) and one column per label (0..max label)."""
    y = np.asarray(labels, dtype=np.int64)
    c = np.asarray(clusters, dtype=np.int64)
    n_clusters = max(k or 0, int(c.max()) + 1 if c.size else 0)
    n_labels = int(y.max()) + 1 if y.size else 0
    table = np.zeros((n_clusters, n_labels), dtype=np.int64)
    np.add.at(table, (c, y), 1)
    return table


def write_cluster_grid(
    images: np.ndarray,
    clusters: np.ndarray,
    path: Path,
    k: int | None = None,
    per_cluster: int = DIGITS_PER_CLUSTER,
) -> Path:
    """The seed's displayClusters as one figure: a row per cluster, its first digits side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pixels = np.asarray(images, dtype=np.float32)
    side = int(round(math.sqrt(pixels.shape[1])))
    if side * side != pixels.shape[1]:
        raise ValueError(f"images have {pixels.shape[1]} features, not a square number of pixels")
    assigned = np.asarray(clusters, dtype=np.int64)
    n_clusters = max(k or 0, int(assigned.max()) + 1 if assigned.size else 1)
    fig, axes = plt.subplots(
        n_clusters, per_cluster + 1, figsize=(0.9 * (per_cluster + 1), 0.95 * n_clusters), squeeze=False
    )
    for cluster in range(n_clusters):
        members = np.flatnonzero(assigned == cluster)
        shown = members
        if members.size > per_cluster:
            # spread over the cluster: a test set sorted by label would otherwise show one digit only
            shown = members[np.linspace(0, members.size - 1, per_cluster).astype(np.int64)]
        label_axis = axes[cluster][0]
        label_axis.axis("off")
        label_axis.text(
            0.5, 0.5, f"cluster {cluster}\n({members.size})", ha="center", va="center", fontsize=8
        )
        for slot in range(per_cluster):
            axis = axes[cluster][slot + 1]
            axis.axis("off")
            if slot < shown.size:
                axis.imshow(pixels[shown[slot]].reshape(side, side), cmap="gray_r", interpolation="nearest")
    fig.suptitle("Test digits by assigned cluster", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_metrics(metrics: RunMetrics, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / METRICS_FILE
    path.write_text(json.dumps(metrics.to_dict(), indent=2, sort_keys=False) + "\n")
    return path


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) if value else "none"
    return "" if value is None else str(value)


_SUMMARY_FIELDS = (
    "execution_status",
    "run_id",
    "n_train",
    "n_test",
    "clustered_set",
    "k",
    "num_components",
    "nmi",
    "ari",
    "purity",
    "train_msd",
    "test_msd",
    "training_jobs_started",
    "leaked_resources",
    "wall_seconds",
    "error",
)

_CSS = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 70em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: right; }
th { background: #eee; }
td.name, th.name { text-align: left; }
.failed { color: #b00; font-weight: bold; }
.ok { color: #070; font-weight: bold; }
.bar { background: #4a7bd0; height: 0.8em; display: inline-block; }
"""


def _summary_table(metrics: RunMetrics) -> str:
    data = metrics.to_dict()
    rows = []
    for name in _SUMMARY_FIELDS:
        if name not in data:
            continue
        value = html.escape(_format(data[name]))
        if name == "execution_status":
            css = "ok" if data[name] == "SUCCEEDED" else "failed"
            value = f'<span class="{css}">{value}</span>'
        rows.append(f'<tr><th class="name">{name}</th><td class="name">{value}</td></tr>')
    return "<table>" + "".join(rows) + "</table>"


def _timeline_table(states: list[StateTiming]) -> str:
    longest = max((state.seconds for state in states), default=0.0) or 1.0
    rows = []
    for state in states:
        width = max(1, int(300 * state.seconds / longest))
        rows.append(
            f'<tr><td class="name">{html.escape(state.name)}</td><td>{state.seconds:.2f}</td>'
            f'<td class="name">{html.escape(state.status)}</td>'
            f'<td class="name"><span class="bar" style="width:{width}px"></span></td></tr>'
        )
    header = '<tr><th class="name">state</th><th>seconds</th><th class="name">status</th><th></th></tr>'
    return "<table>" + header + "".join(rows) + "</table>"


def _confusion_table(table: np.ndarray) -> str:
    header = '<tr><th class="name">cluster \\ label</th>' + "".join(
        f"<th>{j}</th>" for j in range(table.shape[1])
    )
    header += "<th>size</th></tr>"
    rows = []
    for cluster, counts in enumerate(table):
        top = int(counts.argmax()) if counts.sum() else -1
        cells = "".join(
            f"<td><b>{count}</b></td>" if j == top and count else f"<td>{count}</td>"
            for j, count in enumerate(counts)
        )
        rows.append(f'<tr><th class="name">{cluster}</th>{cells}<td>{int(counts.sum())}</td></tr>')
    return "<table>" + header + "".join(rows) + "</table>"


def render_html(metrics: RunMetrics, grid_png: bytes | None, confusion: np.ndarray | None) -> str:
    """A self-contained page: metrics, per-state timeline, cluster grid (base64 PNG), confusion table."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>clusterflow run report</title>',
        f"<style>{_CSS}</style></head><body>",
        f"<h1>clusterflow run {html.escape(metrics.run_id or '(no run)')}</h1>",
        "<h2>Metrics</h2>",
        _summary_table(metrics),
        "<h2>States</h2>",
        _timeline_table(metrics.states),
    ]
    if grid_png is not None:
        encoded = base64.b64encode(grid_png).decode("ascii")
        parts += [
            "<h2>Clusters</h2>",
            f'<img alt="test digits by cluster" src="data:image/png;base64,{encoded}">',
        ]
    if confusion is not None:
        parts += ["<h2>Clusters against labels</h2>", _confusion_table(confusion)]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    out_dir: Path,
    metrics: RunMetrics,
    images: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
) -> dict[str, Path]:
    """Writes metrics.json and report.html, and clusters.png when images and their clusters are given."""
    written = {"metrics": write_metrics(metrics, out_dir)}
    grid_png: bytes | None = None
    confusion: np.ndarray | None = None
    if images is not None and clusters is not None and len(clusters):
        png_path = write_cluster_grid(images, clusters, out_dir / CLUSTERS_PNG, k=metrics.k)
        written["clusters"] = png_path
        grid_png = png_path.read_bytes()
        if labels is not None:
            confusion = confusion_matrix(np.asarray(labels), np.asarray(clusters), metrics.k)
    html_path = out_dir / REPORT_HTML
    html_path.write_text(render_html(metrics, grid_png, confusion))
    written["html"] = html_path
    return written


# --- execution history ---
_END_EVENTS = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"})
_FAILURE_DETAILS = (
    ("TaskFailed", "taskFailedEventDetails"),
    ("LambdaFunctionFailed", "lambdaFunctionFailedEventDetails"),
    ("TaskTimedOut", "taskTimedOutEventDetails"),
    ("LambdaFunctionTimedOut", "lambdaFunctionTimedOutEventDetails"),
)


@dataclass
class StateVisit:
    name: str
    entered: datetime
    left: datetime | None = None
    exited: bool = False
    error: str | None = None
    cause: str | None = None

    @property
    def failed(self) -> bool:
        """The visit's last attempt failed (a caught failure still exits the state, in moto and AWS)."""
        return self.error is not None


@dataclass(frozen=True)
class ExecutionFailure:
    """The original error: the first state whose failure was not retried away, else the execution's own."""

    state: str | None
    error: str
    cause: str

    def describe(self) -> str:
        where = f" in state {self.state}" if self.state else ""
        message = readable_cause(self.cause)
        return f"{self.error}{where}: {message}" if message else f"{self.error}{where}"


def readable_cause(cause: str) -> str:
    """A Lambda failure's cause is JSON with errorType/errorMessage; keep just the message then."""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        return cause or ""
    if isinstance(parsed, Mapping) and "errorMessage" in parsed:
        return str(parsed["errorMessage"])
    return cause


def _failure_details(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for event_type, key in _FAILURE_DETAILS:
        if event.get("type") == event_type:
            details: Mapping[str, Any] = event.get(key, {})
            return details
    return None


def _owner(
    event: Mapping[str, Any], by_id: Mapping[int, Mapping[str, Any]], visits: Mapping[int, StateVisit]
) -> StateVisit | None:
    """The visit an event belongs to: follow previousEventId back to its state's entry.

    Branches of a Parallel state interleave their events, so order alone cannot say which state a
    TaskFailed belongs to. An exit names its state, so it walks back to an entry of that name.
    """
    name = (event.get("stateExitedEventDetails") or {}).get("name")
    previous = event.get("previousEventId")
    seen = 0
    while previous and previous in by_id and seen < len(by_id):
        candidate = by_id[previous]
        if str(candidate.get("type", "")).endswith("StateEntered"):
            entered_name = candidate["stateEnteredEventDetails"]["name"]
            if name is None or entered_name == name:
                return visits.get(int(previous))
        previous = candidate.get("previousEventId")
        seen += 1
    return None


def state_visits(events: Iterable[Mapping[str, Any]]) -> list[StateVisit]:
    """Every state visit in order of entry. A failed attempt is remembered; a later retry clears it."""
    ordered = list(events)
    by_id = {int(event["id"]): event for event in ordered if "id" in event}
    visits: dict[int, StateVisit] = {}
    end_stamp: datetime | None = None
    for event in ordered:
        event_type = str(event.get("type", ""))
        stamp: datetime = event["timestamp"]
        if event_type.endswith("StateEntered"):
            visits[int(event["id"])] = StateVisit(
                name=event["stateEnteredEventDetails"]["name"], entered=stamp
            )
            continue
        if event_type in _END_EVENTS:
            end_stamp = stamp
            continue
        visit = _owner(event, by_id, visits)
        if visit is None:
            continue
        visit.left = stamp
        if event_type.endswith("StateExited"):
            visit.exited = True
        elif event_type in {"TaskScheduled", "LambdaFunctionScheduled"}:
            visit.error = visit.cause = None
        elif (details := _failure_details(event)) is not None:
            visit.error = str(details.get("error", event_type))
            visit.cause = str(details.get("cause", ""))
    for visit in visits.values():
        if not visit.exited and end_stamp is not None:
            visit.left = end_stamp
    return list(visits.values())


def state_timings(visits: Iterable[StateVisit]) -> list[StateTiming]:
    """One row per state name, in order of first entry; seconds summed over visits (poll loops repeat)."""
    rows: dict[str, StateTiming] = {}
    for visit in visits:
        seconds = (visit.left - visit.entered).total_seconds() if visit.left else 0.0
        status = "failed" if visit.failed else ("succeeded" if visit.exited else "running")
        row = rows.get(visit.name)
        if row is None:
            rows[visit.name] = StateTiming(
                name=visit.name, seconds=round(seconds, 3), status=status, visits=1
            )
        else:
            row.seconds = round(row.seconds + seconds, 3)
            row.visits += 1
            if row.status != "failed":
                row.status = status
    return list(rows.values())


def execution_failure(events: list[Mapping[str, Any]]) -> ExecutionFailure | None:
    """None when the execution did not fail; else the original (first unrecovered) error.

    When branches of a Parallel state fail at once, the one whose error the execution ended with
    (a Fail state with ErrorPath passes the caught error on) is the original.
    """
    end = next((event for event in reversed(events) if event.get("type") in _END_EVENTS), None)
    if end is None or end.get("type") == "ExecutionSucceeded":
        return None
    details: Mapping[str, Any] = next(
        (value for key, value in end.items() if key.endswith("EventDetails")), {}
    )
    failed = [visit for visit in state_visits(events) if visit.failed]
    matching = [visit for visit in failed if visit.error == details.get("error")]
    for visit in matching or failed:
        return ExecutionFailure(state=visit.name, error=visit.error or "", cause=visit.cause or "")
    return ExecutionFailure(
        state=None, error=str(details.get("error", end["type"])), cause=str(details.get("cause", ""))
    )
