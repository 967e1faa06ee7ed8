#!/usr/bin/env python3
"""Tunes the mta benchmark shapes twice with `attnjit tune` and writes what the autotuner issue asks to see:
per shape and kernel, the heuristic's time, the tuned time, the candidates tried, the wall time of tuning,
and whether the second run chose the same winner or one within noise of it.

The first run starts from an empty store (cold: every candidate is compiled); the second run uses the same
store (its kernels compiled, its winners replaced), so it re-verifies and re-times every candidate.

    python3 bench/tune_mta.py --attnjit build/attnjit --out bench/results/<folder>
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def run_tune(attnjit, store, shapes, report, extra):
    cmd = [attnjit, "--cache", store, "tune", "--problem", shapes, "--report", report] + extra
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - start
    return proc.returncode, proc.stdout + proc.stderr, wall


def within_noise(report, problem, kernel, a, b):
    """Whether configs a and b measured within the noise band of the faster, in this report's figures."""
    for p in report["problems"]:
        if p["name"] != problem:
            continue
        for k in p["kernels"]:
            if k["kernel"] != kernel:
                continue
            figures = {c["config"]: c for c in k["candidates"] if c["status"] == "timed"}
            if a not in figures or b not in figures:
                return None
            fa, fb = figures[a], figures[b]
            fast = fa if fa["median_us"] <= fb["median_us"] else fb
            band = max(fast["p80_us"] - fast["p20_us"], 0.02 * fast["median_us"])
            return abs(fa["median_us"] - fb["median_us"]) <= band
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attnjit", default="build/attnjit", help="the attnjit command")
    ap.add_argument("--shapes", default="bench/shapes/mta.json", help="problem file")
    ap.add_argument("--out", required=True, help="results folder")
    ap.add_argument("--store", help="store for the runs (default: a fresh temporary file)")
    ap.add_argument("extra", nargs="*", help="more `attnjit tune` options, after --")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    store = args.store or os.path.join(tempfile.mkdtemp(), "tune.db")

    runs = []
    for n in (1, 2):
        report = os.path.join(args.out, f"tune_run{n}.json")
        code, output, wall = run_tune(args.attnjit, store, args.shapes, report, args.extra)
        with open(os.path.join(args.out, f"tune_run{n}.txt"), "w") as f:
            f.write(output)
        print(output)
        if not os.path.exists(report):
            sys.exit(f"run {n}: attnjit tune exited {code} without a report")
        with open(report) as f:
            runs.append((json.load(f), wall, code))

    (first, wall1, code1), (second, wall2, code2) = runs
    env = first["environment"]
    lines = [
        "# attnjit tune over the mta benchmark shapes",
        "",
        f"{env['gpu']}, {env['sm_count']} SMs, {env['arch']}, driver {env['driver']}, NVRTC {env['nvrtc']}, "
        f"attnjit {env['attnjit']}. Run 1 from an empty store (every candidate compiled), run 2 on the same store "
        f"(kernels compiled, every candidate verified and timed again). Exit codes {code1}, {code2}; "
        f"whole runs {wall1:.0f} s and {wall2:.0f} s.",
        "",
        "Kernel times are of the one kernel, median over interleaved rounds, L2 flushed. 'tried' counts candidates "
        "run: timed in every round / screened out (slower than 1.25x the fastest in the screening round) / failed / "
        "tried; 'same winner' compares run 2's winner with run 1's, and where they differ "
        "says whether run 2 measured them within noise of each other.",
        "",
        "| shape | kernel | heuristic us | tuned us | gain | heuristic | winner | timed/screened/failed/tried | tuning s (run 1 / run 2) | run 2 winner | same winner |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    problem_seconds = []
    for p1, p2 in zip(first["problems"], second["problems"]):
        problem_seconds.append((p1["name"], p1["seconds"], p2["seconds"]))
        for k1, k2 in zip(p1["kernels"], p2["kernels"]):
            counts = {"timed": 0, "screened": 0, "failed": 0, "tried": 0}
            for c in k1["candidates"]:
                if c["status"] in ("quarantined", "skipped"):
                    continue
                counts["tried"] += 1
                if c["status"] == "timed":
                    counts["timed"] += 1
                elif c["status"] == "screened out":
                    counts["screened"] += 1
                elif c["status"] != "pruned":
                    counts["failed"] += 1
            if k1["winner"] == k2["winner"]:
                same = "yes"
            else:
                noise = within_noise(second, p1["name"], k1["kernel"], k1["winner"], k2["winner"])
                same = "within noise" if noise else ("NO" if noise is False else "not comparable")
            gain = k1["heuristic_us"] / k1["tuned_us"] if k1["stored"] and k1["tuned_us"] else 0
            lines.append(
                f"| {p1['name']} | {k1['kernel']} | {k1['heuristic_us']:.1f} | {k1['tuned_us']:.1f} | {gain:.2f}x | "
                f"{k1['heuristic']} | {k1['winner']} | {counts['timed']}/{counts['screened']}/{counts['failed']}/{counts['tried']} | "
                f"{k1['seconds']:.1f} / {k2['seconds']:.1f} | {k2['winner']} | {same} |")
    lines += ["", "| shape | tuning wall s, run 1 | run 2 |", "|---|---|---|"]
    for name, s1, s2 in problem_seconds:
        lines.append(f"| {name} | {s1:.1f} | {s2:.1f} |")
    with open(os.path.join(args.out, "tune.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
