#!/usr/bin/env python3
"""Summarizes Nsight Compute's per-instruction (SASS) stall sampling: where a kernel's warps wait, and on what.

Input: the CSV that `ncu --section SourceCounters --page source --print-source sass --csv ...` prints (one
kernel). Output: the share of each stall reason over all samples, then the instructions with the most samples,
each with its two main stall reasons. A long-scoreboard stall on an instruction means it waits for a global
(or local) load's result; on a barrier, for what the other warps wait for.

Usage: bench/ncu_hotspots.py CSV [--top N]
"""
import argparse
import csv
import sys


def number(text):
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", help="ncu --page source --print-source sass --csv output")
    parser.add_argument("--top", type=int, default=30, help="instructions to list (default 30)")
    args = parser.parse_args()
    with open(args.csv, newline="") as f:
        rows = list(csv.reader(f))
    header_at = next((i for i, r in enumerate(rows) if "Source" in r and "Warp Stall Sampling (All Samples)" in r), None)
    if header_at is None:
        sys.exit(f"{args.csv}: no SASS table (ncu --page source --print-source sass --csv prints one; did ncu fail?)")
    header = rows[header_at]
    column = {name: i for i, name in enumerate(header)}
    table = [r for r in rows[header_at + 1:] if len(r) == len(header)]
    samples_column = column["Warp Stall Sampling (All Samples)"]
    total = sum(number(r[samples_column]) for r in table)
    if total == 0:
        sys.exit(f"{args.csv}: no stall samples")
    reasons = [name for name in header if name.startswith("stall_") and "Not Issued" not in name]
    print(f"{len(table)} instructions, {total:.0f} samples")
    print("stall reasons over all samples:")
    sums = {name: sum(number(r[column[name]]) for r in table) for name in reasons}
    for name, value in sorted(sums.items(), key=lambda kv: -kv[1]):
        if value / total >= 0.005:
            print(f"  {name:24s} {100 * value / total:5.1f}%")
    print(f"the {args.top} instructions with the most samples (index in the kernel's SASS, share, two main reasons):")
    indexed = list(enumerate(table))
    for index, r in sorted(indexed, key=lambda ir: -number(ir[1][samples_column]))[: args.top]:
        share = 100 * number(r[samples_column]) / total
        main_reasons = sorted(((number(r[column[name]]), name) for name in reasons), reverse=True)[:2]
        why = ", ".join(f"{name[6:]} {value / total * 100:.1f}%" for value, name in main_reasons if value > 0)
        print(f"  {index:5d} {share:5.1f}%  {r[column['Source']].strip()[:64]:64s} {why}")


if __name__ == "__main__":
    main()
