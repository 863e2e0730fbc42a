"""SageMaker PCA and K-Means hyperparameters: names, required flags, defaults and value rules.

Values arrive as strings, exactly as CreateTrainingJob passes them (REFERENCE sections 1 and 2).
A name the algorithm does not know is an error, as in SageMaker's containers; the one exception is
`_tuning_objective_metric`, which SageMaker's automatic model tuning adds to every job.

`auto` resolution (what SageMaker's containers were observed to do; AWS does not document it):
- `extra_center_factor=auto` -> 10, so K = 10 * k streaming centres.
- `local_lloyd_num_trials=auto` -> 10 weighted-Lloyd runs, the best kept.
PCA `extra_components=-1` -> max(10, num_components), resolved by `PCAHyperparameters.sketch_size`.
Booleans accept `true`/`false` in any letter case ("True" is what the SDK sends).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from clusterflow.errors import HyperparameterError

AUTO_EXTRA_CENTER_FACTOR = 10
AUTO_LOCAL_LLOYD_NUM_TRIALS = 10
_IGNORED_NAMES = frozenset({"_tuning_objective_metric"})
_INT_PATTERN = re.compile(r"[+-]?\d+")

PCAMode = Literal["regular", "randomized"]
InitMethod = Literal["random", "kmeans++"]


@dataclass(frozen=True)
class PCAHyperparameters:
    feature_dim: int
    mini_batch_size: int
    num_components: int
    algorithm_mode: PCAMode = "regular"
    subtract_mean: bool = True
    extra_components: int = -1

    @property
    def sketch_size(self) -> int:
        """Rows l of the randomized sketch: num_components + extra_components (-1 -> max(10, c))."""
        extra = max(10, self.num_components) if self.extra_components == -1 else self.extra_components
        return self.num_components + extra


@dataclass(frozen=True)
class KMeansHyperparameters:
    feature_dim: int
    k: int
    mini_batch_size: int = 5000
    epochs: int = 1
    init_method: InitMethod = "random"
    extra_center_factor: int = AUTO_EXTRA_CENTER_FACTOR
    local_lloyd_init_method: InitMethod = "kmeans++"
    local_lloyd_max_iter: int = 300
    local_lloyd_num_trials: int = AUTO_LOCAL_LLOYD_NUM_TRIALS
    local_lloyd_tol: float = 0.0001
    half_life_time_size: int = 0
    eval_metrics: tuple[str, ...] = ("msd",)
    force_dense: bool = True

    @property
    def num_streaming_centers(self) -> int:
        return self.k * self.extra_center_factor


# --- value rules: each takes (name, raw string) and returns the typed value or raises ---


def _int(name: str, raw: str, *, minimum: int) -> int:
    text = raw.strip()
    if not _INT_PATTERN.fullmatch(text):
        raise HyperparameterError(name, f"must be an integer, got {raw!r}")
    value = int(text)
    if value < minimum:
        bound = "greater than 0" if minimum == 1 else f"at least {minimum}"
        raise HyperparameterError(name, f"must be {bound}, got {value}")
    return value


def _positive_int(name: str, raw: str) -> int:
    return _int(name, raw, minimum=1)


def _non_negative_int(name: str, raw: str) -> int:
    return _int(name, raw, minimum=0)


def _k(name: str, raw: str) -> int:
    return _int(name, raw, minimum=2)


def _extra_components(name: str, raw: str) -> int:
    if raw.strip() == "-1":
        return -1
    try:
        return _int(name, raw, minimum=0)
    except HyperparameterError:
        raise HyperparameterError(name, f"must be an integer >= 0 or -1, got {raw!r}") from None


def _auto_or_positive_int(auto_value: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        if raw.strip().lower() == "auto":
            return auto_value
        try:
            return _int(name, raw, minimum=1)
        except HyperparameterError:
            raise HyperparameterError(name, f"must be 'auto' or an integer > 0, got {raw!r}") from None

    return parse


def _bool(name: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text not in ("true", "false"):
        raise HyperparameterError(name, f"must be true or false, got {raw!r}")
    return text == "true"


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        if raw not in allowed:
            raise HyperparameterError(name, f"must be one of {', '.join(allowed)}; got {raw!r}")
        return raw

    return parse


def _unit_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise HyperparameterError(name, f"must be a number in [0, 1], got {raw!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise HyperparameterError(name, f"must be a number in [0, 1], got {raw!r}")
    return value


def _eval_metrics(name: str, raw: str) -> tuple[str, ...]:
    # AWS's documentation writes the value with escaped quotes, [\"msd\"]; both spellings are accepted.
    try:
        value = json.loads(raw.replace('\\"', '"'))
    except json.JSONDecodeError:
        raise HyperparameterError(name, f'must be a JSON list such as ["msd", "ssd"], got {raw!r}') from None
    if not isinstance(value, list) or not value:
        raise HyperparameterError(name, f'must be a non-empty JSON list such as ["msd", "ssd"], got {raw!r}')
    unknown = [item for item in value if item not in ("msd", "ssd")]
    if unknown:
        raise HyperparameterError(name, f"unknown metric(s) {unknown}; allowed: msd, ssd")
    return tuple(dict.fromkeys(value))


# name -> (required, rule); defaults come from the dataclass.
_PCA_RULES: dict[str, tuple[bool, Callable[[str, str], Any]]] = {
    "feature_dim": (True, _positive_int),
    "mini_batch_size": (True, _positive_int),
    "num_components": (True, _positive_int),
    "algorithm_mode": (False, _choice("regular", "randomized")),
    "subtract_mean": (False, _bool),
    "extra_components": (False, _extra_components),
}

_KMEANS_RULES: dict[str, tuple[bool, Callable[[str, str], Any]]] = {
    "feature_dim": (True, _positive_int),
    "k": (True, _k),
    "mini_batch_size": (False, _positive_int),
    "epochs": (False, _positive_int),
    "init_method": (False, _choice("random", "kmeans++")),
    "extra_center_factor": (False, _auto_or_positive_int(AUTO_EXTRA_CENTER_FACTOR)),
    "local_lloyd_init_method": (False, _choice("random", "kmeans++")),
    "local_lloyd_max_iter": (False, _positive_int),
    "local_lloyd_num_trials": (False, _auto_or_positive_int(AUTO_LOCAL_LLOYD_NUM_TRIALS)),
    "local_lloyd_tol": (False, _unit_float),
    "half_life_time_size": (False, _non_negative_int),
    "eval_metrics": (False, _eval_metrics),
    "force_dense": (False, _bool),
}


Rules = Mapping[str, tuple[bool, Callable[[str, str], Any]]]


def _parse(raw: Mapping[str, str], rules: Rules) -> dict[str, Any]:
    unknown = sorted(set(raw) - set(rules) - _IGNORED_NAMES)
    if unknown:
        allowed = ", ".join(rules)
        reason = f"is not a hyperparameter of this algorithm; allowed: {allowed}"
        raise HyperparameterError(unknown[0], reason)
    values: dict[str, Any] = {}
    for name, (required, rule) in rules.items():
        if name not in raw:
            if required:
                raise HyperparameterError(name, "is required but missing")
            continue
        text = raw[name]
        if not isinstance(text, str):
            raise HyperparameterError(name, f"must be sent as a string, got {type(text).__name__}")
        values[name] = rule(name, text)
    return values


def parse_pca_hyperparameters(raw: Mapping[str, str]) -> PCAHyperparameters:
    """Validate PCA hyperparameters as SageMaker receives them (REFERENCE section 1)."""
    return PCAHyperparameters(**_parse(raw, _PCA_RULES))


def parse_kmeans_hyperparameters(raw: Mapping[str, str]) -> KMeansHyperparameters:
    """Validate K-Means hyperparameters as SageMaker receives them (REFERENCE section 2)."""
    return KMeansHyperparameters(**_parse(raw, _KMEANS_RULES))
