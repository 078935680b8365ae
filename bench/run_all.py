"""Run every benchmark, one after the other (each builds and removes its own lab), and
print their one-line summaries at the end. ``--quick`` is passed to each.

    sudo .venv/bin/python bench/run_all.py [--quick] [--only provision,reload]

A benchmark that fails (exits non-zero) does not stop the others; the exit status is 1
if any failed. A missed target is not a failure: it is in the summary line.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# Cheapest first; scale (default 1000 load balancers) last, as it takes longest.
ORDER = ["wake", "member_update", "provision", "reload", "dataplane", "api", "failover", "scale"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    p.add_argument("--only", help="comma-separated benchmark names")
    args = p.parse_args()
    names = args.only.split(",") if args.only else ORDER
    unknown = [n for n in names if n not in ORDER]
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)} (known: {', '.join(ORDER)})")

    summaries: list[str] = []
    failed: list[str] = []
    child: subprocess.Popen[str] | None = None

    def forward(signum: int, frame: object) -> None:
        # The benchmark turns SIGTERM into its own cleanup; then we stop.
        if child is not None and child.poll() is None:
            child.send_signal(signum)
            child.wait(60)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, forward)
    for name in names:
        script = BENCH / f"{name}.py"
        if not script.exists():
            summaries.append(f"SUMMARY {name}: not written yet (bench/{name}.py missing)")
            continue
        print(f"\n=== {name}{' --quick' if args.quick else ''} ===", flush=True)
        started = time.monotonic()
        child = subprocess.Popen([sys.executable, str(script), *(["--quick"] if args.quick
                                                                 else [])],
                                 stdout=subprocess.PIPE, text=True, bufsize=1)
        last = ""
        assert child.stdout is not None
        try:
            for line in child.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                if line.startswith("SUMMARY "):
                    last = line.strip()
            rc = child.wait()
        except KeyboardInterrupt:
            # Ctrl-C reached the child too (same process group): let it clean up.
            child.wait(60)
            print("\ninterrupted", file=sys.stderr)
            return 130
        took = time.monotonic() - started
        if rc != 0:
            failed.append(name)
            summaries.append(f"SUMMARY {name}: FAILED (exit {rc}) after {took:.0f} s")
        else:
            summaries.append(f"{last or f'SUMMARY {name}: (no summary line)'}  ({took:.0f} s)")
    print("\n=== summaries ===")
    for line in summaries:
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
