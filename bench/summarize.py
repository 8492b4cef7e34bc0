#!/usr/bin/env python3
"""Summarises benchmark rounds (section 2.2 of performance-notes.md).

Input lines (TSV): round variant req_per_s cpu_us_per_req. Variants: bare, wasp-10, wasp-10k
and optionally wasm-noop (a module that does nothing: what V8 alone costs).
Per variant: median req/s, median per-round ratio vs bare (min-max), median per-round
added CPU us/request vs bare; then the 10k/10-op cost ratio and the goals.

usage: summarize.py ROUNDS.tsv
"""
import statistics
import sys
from collections import defaultdict

BARE, NOOP, SMALL, LARGE = "bare", "wasm-noop", "wasp-10", "wasp-10k"


def load(path):
    rounds = defaultdict(dict)
    with open(path) as f:
        for line in f:
            rnd, variant, rps, cpu = line.split()
            rounds[int(rnd)][variant] = (float(rps), float(cpu))
    return [r for _, r in sorted(rounds.items()) if {BARE, SMALL, LARGE} <= r.keys()]


def main():
    rounds = load(sys.argv[1])
    if not rounds:
        raise SystemExit("summarize.py: no complete round")
    print(f"{len(rounds)} rounds; medians, [min-max] over rounds")
    print(f"{'variant':<10} {'req/s':>9} {'ratio vs bare':>22} {'CPU us/req':>11} {'added CPU us/req':>24}")
    added = {}
    ratios = {}
    variants = [v for v in (BARE, NOOP, SMALL, LARGE) if all(v in r for r in rounds)]
    for variant in variants:
        rps = [r[variant][0] for r in rounds]
        cpu = [r[variant][1] for r in rounds]
        ratio = [r[variant][0] / r[BARE][0] for r in rounds]
        delta = [r[variant][1] - r[BARE][1] for r in rounds]
        ratios[variant], added[variant] = ratio, delta
        print(
            f"{variant:<10} {statistics.median(rps):>9.0f} "
            f"{statistics.median(ratio):>8.3f} [{min(ratio):.3f}-{max(ratio):.3f}] "
            f"{statistics.median(cpu):>11.1f} "
            f"{statistics.median(delta):>+9.1f} [{min(delta):+.1f} to {max(delta):+.1f}]"
        )
    # Match cost of 10k ops relative to 10 ops: the added CPU over bare, per round.
    if NOOP in variants:
        own = [r[SMALL][1] - r[NOOP][1] for r in rounds]
        print(
            f"wasp-10 over wasm-noop (the filter's own work): {statistics.median(own):+.1f} us/req "
            f"[{min(own):+.1f} to {max(own):+.1f}]"
        )
    cost = [r[LARGE][1] / r[SMALL][1] for r in rounds]
    # A per-round ratio of two small differences explodes on a noisy round, so
    # the added-cost ratio is taken between the medians of the added CPU.
    small_added = statistics.median(added[SMALL])
    added_cost = statistics.median(added[LARGE]) / small_added if small_added > 0 else None
    print(f"10k/10-op CPU per request: {statistics.median(cost):.3f} [{min(cost):.3f}-{max(cost):.3f}]")
    if added_cost is not None:
        print(f"10k/10-op added CPU over bare (ratio of the medians): {added_cost:.2f}")
    small_ratio = statistics.median(ratios[SMALL])
    print("goals:")
    print(f"  matching-only req/s >= 0.90 x bare: {small_ratio:.3f} -> {'met' if small_ratio >= 0.90 else 'NOT met'}")
    if added_cost is not None:
        # The filter's own cost is what it adds over bare Envoy.
        verdict = "met" if added_cost <= 1.2 else "NOT met"
        print(f"  10k-op added CPU within 1.2x of 10-op: {added_cost:.2f} -> {verdict}")
    else:
        print("  10k-op added CPU within 1.2x of 10-op: wasp-10 added no CPU over bare in any round; not measurable")

if __name__ == "__main__":
    main()
