"""Before/after on one machine: a benchmark run in two checkouts in alternating rounds, medians side by side.

    .venv/bin/python -m bench.interleave --before ../baseline --after . --rounds 3 redirect -- --duration 15

The machine is shared and its speed moves with the hour, so a change is judged only against a
reference measured in the same run: each round runs `python -m bench.<name> --rounds 1` once in
each checkout (before first, then after), and the figures each run prints are collected and given
as medians. Make the reference checkout with `git worktree add ../baseline <commit>`. Both runs use
this interpreter (the same installed packages); each imports linktrack from its own checkout.
"""

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

# What each benchmark prints that is worth a median: (label, pattern with one number).
FIGURES = {
    "redirect": [
        ("linktrack requests/s", r"median linktrack redirect: (\d+) requests/s"),
        ("bare Flask requests/s", r"median bare Flask 302: (\d+) requests/s"),
        ("% of bare", r"throughput: (\d+)% of bare"),
        ("linktrack p99 ms", r"median linktrack redirect: .*p99 ([\d.]+) ms"),
        # --hot-link
        ("8 processes requests/s", r"median 8 processes: (\d+) requests/s"),
        ("4 processes requests/s", r"median 4 processes: (\d+) requests/s"),
        ("8/4 throughput", r"throughput 8/4 processes: ([\d.]+)"),
        ("8 processes max lock wait ms", r"median 8 processes: .*lock waits: max ([\d.]+) ms"),
        ("8 processes waits > 50 ms", r"median 8 processes: .*, (\d+) over 50 ms"),
        ("4 processes max lock wait ms", r"median 4 processes: .*lock waits: max ([\d.]+) ms"),
    ],
    "conversions": [
        ("accepted/s", r"median: (\d+) accepted conversions/s"),
        ("p99 ms", r"median: .*p99 ([\d.]+) ms"),
        ("CPU ms per conversion", r"CPU per accepted conversion .*?: ([\d.]+) ms"),
    ],
}


def run_once(checkout: Path, name: str, extra: list[str]) -> str:
    command = [sys.executable, "-m", f"bench.{name}", "--rounds", "1", *extra]
    done = subprocess.run(command, cwd=checkout, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        sys.exit(f"{checkout}: bench.{name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the reference checkout")
    parser.add_argument("--after", type=Path, default=Path("."), help="the checkout under test")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("benchmark", choices=sorted(FIGURES))
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="after --: arguments for the benchmark itself")
    args = parser.parse_args()
    if args.extra[:1] == ["--"]:
        args.extra = args.extra[1:]

    seen: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    for round_number in range(1, args.rounds + 1):
        for side, checkout in (("before", args.before), ("after", args.after)):
            output = run_once(checkout.resolve(), args.benchmark, args.extra)
            for label, pattern in FIGURES[args.benchmark]:
                match = re.search(pattern, output)
                if match:
                    seen[side].setdefault(label, []).append(float(match.group(1)))
            figures = {label: values[-1] for label, values in seen[side].items()}
            print(f"round {round_number} {side}: {figures}", flush=True)

    print(f"\nmedians of {args.rounds} interleaved rounds (before = {args.before}, after = {args.after})")
    for label, _ in FIGURES[args.benchmark]:
        before, after = seen["before"].get(label), seen["after"].get(label)
        if before and after:
            b, a = statistics.median(before), statistics.median(after)
            print(f"  {label:24} before {b:>9.2f}   after {a:>9.2f}   after/before {a / b:.3f}")


if __name__ == "__main__":
    main()
