"""Command-line start-up: wall time of quick commands, each a fresh process.

``credtrace --help`` (no database), ``credtrace keys list`` and ``credtrace ledger
checkpoint`` against a small seeded SQLite log. Prints each command's median and worst
of ``--runs`` runs; the target is a median of at most 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = (["--help"], ["keys", "list"], ["ledger", "checkpoint"])
TARGET_SECONDS = 0.5


def _run(credtrace: Path, args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([str(credtrace), *args], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    credtrace = Path(sys.executable).with_name("credtrace")
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as folder:
        env = {
            **os.environ,
            "CREDTRACE_DATABASE_URL": f"sqlite:///{Path(folder) / 'ledger.db'}",
            "CREDTRACE_KEY_FILE": str(Path(folder) / "ledger.key"),
        }
        env.pop("CREDTRACE_REDIS_URL", None)
        subprocess.run(
            [str(credtrace), "seed", "--enterprises", "20"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        print(f"{'command':<28} {'median':>8} {'worst':>8}  (target median <= {TARGET_SECONDS} s)")
        for args in COMMANDS:
            times = [_run(credtrace, args, env) for _ in range(options.runs)]
            name = "credtrace " + " ".join(args)
            print(f"{name:<28} {statistics.median(times):>7.3f}s {max(times):>7.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
