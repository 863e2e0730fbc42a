"""The Spark job's arguments, passed the Glue way: `--key value` pairs after the script name.

Glue adds its own (`--JOB_NAME`, `--JOB_ID`, `--job-bookmark-option`, `--TempDir`, `--enable-metrics`, ...);
EMR Serverless passes `entryPointArguments` the same way. Both kinds of extras are ignored.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from clusterflow.errors import ClusterflowError

MODES = ("prepare", "project")
PROJECTION_ENGINES = ("artifact", "endpoint")
DEFAULT_ENDPOINT_BATCH_SIZE = 500

_ALWAYS_REQUIRED = ("mode", "input_uri", "num_features", "output_uri")
_PROJECT_REQUIRED = ("projections_uri",)
_ENDPOINT_REQUIRED = ("pca_endpoint_name", "region")
_OPTIONAL = ("projection_engine", "endpoint_batch_size", "num_shards")


class JobArgumentError(ClusterflowError):
    """A missing or invalid job argument; names the argument."""


@dataclass(frozen=True)
class JobArguments:
    mode: str
    input_uri: str
    num_features: int
    output_uri: str
    pca_model_uri: str | None = None
    projections_uri: str | None = None
    projection_engine: str = "artifact"
    pca_endpoint_name: str | None = None
    region: str | None = None
    endpoint_batch_size: int = DEFAULT_ENDPOINT_BATCH_SIZE
    num_shards: int | None = None


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise JobArgumentError(f"job arguments: {message}")


def _compatible_resolved_options(argv: Sequence[str], options: Sequence[str]) -> dict[str, str]:
    """Same contract as awsglue.utils.getResolvedOptions: argv[0] is the script, each option is required,
    `--key value` and `--key=value` both work, anything else is ignored."""
    parser = _RaisingParser(prog="project.py", add_help=False, allow_abbrev=False)
    for option in options:
        parser.add_argument(f"--{option}", required=True)
    parsed, _unknown = parser.parse_known_args(list(argv[1:]))
    return {key: value for key, value in vars(parsed).items() if value is not None}


def resolve_options(argv: Sequence[str], options: Sequence[str]) -> dict[str, str]:
    """Glue's own resolver where `awsglue` is importable (on Glue), else a compatible one."""
    try:
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
    except ImportError:
        return _compatible_resolved_options(argv, options)
    try:
        return dict(getResolvedOptions(list(argv), list(options)))
    except Exception as exc:  # GlueArgumentError has no stable import path
        raise JobArgumentError(f"job arguments: {exc}") from exc


def _present(argv: Sequence[str], name: str) -> bool:
    flag = f"--{name}"
    return any(arg == flag or arg.startswith(f"{flag}=") for arg in argv[1:])


def _positive_int(options: dict[str, str], name: str) -> int:
    raw = options[name]
    try:
        value = int(raw)
    except ValueError:
        raise JobArgumentError(f"--{name} must be a positive integer, got {raw!r}") from None
    if value <= 0:
        raise JobArgumentError(f"--{name} must be a positive integer, got {raw!r}")
    return value


def _choice(options: dict[str, str], name: str, choices: Sequence[str]) -> str:
    value = options[name]
    if value not in choices:
        raise JobArgumentError(f"--{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _required_for(argv: Sequence[str]) -> list[str]:
    """Which options this argv must carry: depends on --mode and --projection_engine, read leniently first."""
    lenient_parser = _RaisingParser(add_help=False, allow_abbrev=False)
    lenient_parser.add_argument("--mode")
    lenient_parser.add_argument("--projection_engine")
    seen, _ = lenient_parser.parse_known_args(list(argv[1:]))
    required = list(_ALWAYS_REQUIRED)
    if seen.mode == "project":
        required += _PROJECT_REQUIRED
        required += _ENDPOINT_REQUIRED if seen.projection_engine == "endpoint" else ("pca_model_uri",)
    return required + [name for name in _OPTIONAL if _present(argv, name)]


def parse_job_arguments(argv: Sequence[str]) -> JobArguments:
    """Parse sys.argv as Glue or EMR Serverless passes it (argv[0] is the script path)."""
    wanted = _required_for(argv)
    options = resolve_options(argv, wanted)
    empty = [name for name in wanted if not str(options.get(name, "")).strip()]
    if empty:
        raise JobArgumentError(f"--{empty[0]} must not be empty")
    mode = _choice(options, "mode", MODES)
    engine = (
        _choice(options, "projection_engine", PROJECTION_ENGINES)
        if "projection_engine" in options
        else "artifact"
    )
    return JobArguments(
        mode=mode,
        input_uri=options["input_uri"],
        num_features=_positive_int(options, "num_features"),
        output_uri=options["output_uri"],
        pca_model_uri=options.get("pca_model_uri"),
        projections_uri=options.get("projections_uri"),
        projection_engine=engine,
        pca_endpoint_name=options.get("pca_endpoint_name"),
        region=options.get("region"),
        endpoint_batch_size=(
            _positive_int(options, "endpoint_batch_size")
            if "endpoint_batch_size" in options
            else DEFAULT_ENDPOINT_BATCH_SIZE
        ),
        num_shards=_positive_int(options, "num_shards") if "num_shards" in options else None,
    )
