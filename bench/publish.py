"""`python -m bench.publish OUT_DIR`: put OUT_DIR/bench.md into BENCHMARKS.md and bench.png into docs/."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from bench.pipelines import summarise
from bench.report import write_all
from bench.scale import curve_summary
from bench.targets import judge

REPO_ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def splice(document: str, generated: str) -> str:
    """Replace what lies between the markers with `generated` (headings demoted one level)."""
    if BEGIN not in document or END not in document:
        raise ValueError(f"BENCHMARKS.md lacks the {BEGIN} / {END} markers")
    head, rest = document.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    demoted = "\n".join("#" + line if line.startswith("#") else line for line in generated.splitlines())
    return f"{head}{BEGIN}\n{demoted.strip()}\n{END}{tail}"


def rerender(out: Path) -> None:
    """Derive the summaries and targets again from the runs in bench.json, and rewrite the reports."""
    results = json.loads((out / "bench.json").read_text())
    if results.get("scale"):
        results["scale"].pop("unavailable", None)
        results["scale"].update(curve_summary(results["scale"].get("points", [])))
    for block in results.get("datasets", {}).values():
        block.update(summarise(block["runs"]))
    results["targets"] = judge(results)
    write_all(results, out)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/bench")
    rerender(out)
    target = REPO_ROOT / "BENCHMARKS.md"
    target.write_text(splice(target.read_text(), (out / "bench.md").read_text()))
    docs = REPO_ROOT / "docs"
    docs.mkdir(exist_ok=True)
    shutil.copyfile(out / "bench.png", docs / "bench.png")
    print(f"updated {target} and {docs / 'bench.png'}")


if __name__ == "__main__":
    main()
