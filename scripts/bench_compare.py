"""Run one benchmark on this checkout and on another commit, interleaved, in the same run.

``scripts/bench ledger --against HEAD~1 --only bulk`` runs the ``ledger`` benchmark once
on each side per round (``--rounds``, default 3), alternating so that the machine's
noise falls on both alike, and prints every figure's median side by side. The other
commit runs from a temporary ``git worktree`` with this checkout's virtualenv; its own
benchmark script is used, so only figures both sides print are compared.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {
    "ledger": "scripts/bench_ledger.py",
    "import": "scripts/bench_import.py",
    "credit": "scripts/bench_credit.py",
}
# Every benchmark prints its results as "<label>: median <number> <unit>".
MEDIAN = re.compile(r"^\s*(?P<label>.+?): median (?P<value>[\d,.]+) (?P<unit>.+?)\s*$")


def run_once(tree: Path, bench: str, args: list[str]) -> dict[str, tuple[float, str]]:
    """Run ``bench`` from ``tree`` with one run; its median lines, by label."""
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'scripts'}"}
    proc = subprocess.run(
        [sys.executable, str(tree / SCRIPTS[bench]), "--runs", "1", *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark failed in {tree.name}:\n{proc.stdout}\n{proc.stderr}")
    figures: dict[str, tuple[float, str]] = {}
    section = ""
    for line in proc.stdout.splitlines():
        match = MEDIAN.match(line)
        if match is None:
            if line and not line.startswith(" "):
                section = line.strip()
            continue
        label = f"{section} | {match['label']}" if section else match["label"]
        figures[label] = (float(match["value"].replace(",", "")), match["unit"])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench", choices=sorted(SCRIPTS))
    parser.add_argument("--against", required=True, help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    options, rest = parser.parse_known_args()

    results: dict[str, dict[str, list[float]]] = {"this": {}, "base": {}}
    units: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-base-") as tmp:
        base = Path(tmp) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(base), options.against],
            cwd=ROOT,
            check=True,
        )
        try:
            for round_ in range(options.rounds):
                for side, tree in (("base", base), ("this", ROOT)):
                    print(f"round {round_ + 1}/{options.rounds}: {side}", flush=True)
                    for label, (value, unit) in run_once(tree, options.bench, rest).items():
                        results[side].setdefault(label, []).append(value)
                        units[label] = unit
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False
            )

    print(f"\nmedians of {options.rounds} rounds: {options.against} vs this checkout")
    for label in sorted(set(results["this"]) | set(results["base"])):
        base_values, this_values = results["base"].get(label), results["this"].get(label)
        base_median = statistics.median(base_values) if base_values else None
        this_median = statistics.median(this_values) if this_values else None
        ratio = f"{this_median / base_median:6.2f}x" if base_median and this_median else "   -"
        show = [
            f"{v:>14,.1f}" if v is not None else f"{'-':>14}" for v in (base_median, this_median)
        ]
        print(f"  {label}: {show[0]} {show[1]} {units[label]}  ({ratio})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
