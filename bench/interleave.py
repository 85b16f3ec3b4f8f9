"""Before/after on one machine: a benchmark run in two checkouts in alternating rounds, medians side by side.

    .venv/bin/python -m bench.interleave --before ../baseline --after . --rounds 3 redirect -- --duration 15
    .venv/bin/python -m bench.interleave --before . --after . --before-env ACCESS_LOG=1 redirect -- --duration 8

The machine is shared and its speed moves with the hour, so a change is judged only against a
reference measured in the same run: each round runs `python -m bench.<name> --rounds 1` once in
each checkout (before first, then after), and the figures each run prints are collected and given
as medians. Make the reference checkout with `git worktree add ../baseline <commit>`. Both runs use
this interpreter (the same installed packages); each imports linktrack from its own checkout.
A setting is compared the same way in one checkout: --before-env / --after-env NAME=VALUE add to
one side's environment (ACCESS_LOG=1 against the default, METRICS_TOKEN=... against none).
"""

import argparse
import os
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
        ("linktrack CPU us/request", r"app CPU per request: linktrack (\d+) us"),
        ("bare CPU us/request", r"app CPU per request: .*bare Flask (\d+) us"),
    ],
    "conversions": [
        ("accepted/s", r"median: (\d+) accepted conversions/s"),
        ("p99 ms", r"median: .*p99 ([\d.]+) ms"),
        ("CPU ms per conversion", r"CPU per accepted conversion .*?: ([\d.]+) ms"),
    ],
}


def run_once(checkout: Path, name: str, extra: list[str], env: list[str] = ()) -> str:
    command = [sys.executable, "-m", f"bench.{name}", "--rounds", "1", *extra]
    environment = {**os.environ, **dict(setting.split("=", 1) for setting in env)}
    done = subprocess.run(command, cwd=checkout, capture_output=True, text=True, timeout=900, env=environment)
    if done.returncode != 0:
        sys.exit(f"{checkout}: bench.{name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the reference checkout")
    parser.add_argument("--after", type=Path, default=Path("."), help="the checkout under test")
    parser.add_argument("--rounds", type=int, default=3)
    for side in ("before", "after"):
        parser.add_argument(f"--{side}-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("benchmark", choices=sorted(FIGURES))
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="after --: arguments for the benchmark itself")
    args = parser.parse_args()
    if args.extra[:1] == ["--"]:
        args.extra = args.extra[1:]

    seen: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    for round_number in range(1, args.rounds + 1):
        for side, checkout in (("before", args.before), ("after", args.after)):
            output = run_once(checkout.resolve(), args.benchmark, args.extra, getattr(args, f"{side}_env"))
            for label, pattern in FIGURES[args.benchmark]:
                match = re.search(pattern, output)
                if match:
                    seen[side].setdefault(label, []).append(float(match.group(1)))
            figures = {label: values[-1] for label, values in seen[side].items()}
            print(f"round {round_number} {side}: {figures}", flush=True)

    before_env, after_env = " ".join(args.before_env), " ".join(args.after_env)
    print(
        f"\nmedians of {args.rounds} interleaved rounds "
        f"(before = {args.before} {before_env}, after = {args.after} {after_env})"
    )
    for label, _ in FIGURES[args.benchmark]:
        before, after = seen["before"].get(label), seen["after"].get(label)
        if before and after:
            b, a = statistics.median(before), statistics.median(after)
            print(f"  {label:24} before {b:>9.2f}   after {a:>9.2f}   after/before {a / b:.3f}")


if __name__ == "__main__":
    main()
