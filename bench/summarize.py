#!/usr/bin/env python3
"""Summarises benchmark rounds (section 2.2 of performance-notes.md).

Input lines (TSV): round variant req_per_s cpu_us_per_req [side_cpu_us_per_req]; the optional
last column is the CPU per request of a process besides the Envoy under test (the apikey
scenario's wasp-control). Per variant: median req/s, median
per-round ratio vs its baseline (min-max), median CPU us/request and median per-round added
CPU us/request vs the baseline; then the scenario's goals.

- match: bare, wasm-noop (optional), wasp-10, wasp-10k; baseline bare. Also the 10k/10-op
  cost ratio. Goals: matching-only req/s >= 0.90 x bare; 10k-op added CPU within 1.2x of 10-op.
- rewrite: bare-constant, wasp-constant, bare-append, wasp-append; each wasp-X against bare-X.
- jwt: bare, wasp-open (an unprotected operation on the wasp Envoy), wasp-cached,
  wasp-uncached, authn-cached, authn-nocache; baseline bare. Also, per round, wasp-cached
  against wasp-open (the JWT stage's own cost) and wasp against jwt_authn. Goals (issue 4): wasp cached >= jwt_authn cached, and
  >= 0.90 of bare Envoy.
- apikey: bare, wasp-open (an operation with neither key nor quota on the wasp Envoy),
  wasp-key (a required key, Check answered from the filter's cache), wasp-key-quota (the key
  and an AllocateQuota call per request); baseline bare. Also, per round, wasp-key against
  wasp-open (what the cached Check adds) and wasp-key-quota against wasp-key (what the quota
  call adds), and wasp-control's CPU per request. Issue 5 sets no number: the cached check
  must cost near nothing.

usage: summarize.py SCENARIO[-SETTING] ROUNDS.tsv
"""
import statistics
import sys
from collections import defaultdict

BARE, NOOP, SMALL, LARGE = "bare", "wasm-noop", "wasp-10", "wasp-10k"
GOAL_RATIO = 0.90


def load(path, required):
    rounds = defaultdict(dict)
    with open(path) as f:
        for line in f:
            rnd, variant, rps, cpu, *side = line.split()
            rounds[int(rnd)][variant] = (float(rps), float(cpu), *map(float, side))
    return [r for _, r in sorted(rounds.items()) if set(required) <= r.keys()]


def median_range(values, fmt):
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}-{fmt(max(values))}]"


def header():
    print(f"{'variant':<14} {'req/s':>9} {'ratio vs base':>22} {'CPU us/req':>11} {'added CPU us/req':>26}")


def row(rounds, variant, base):
    """Prints one variant against `base`; returns (ratios, added CPU) per round."""
    rps = [r[variant][0] for r in rounds]
    cpu = [r[variant][1] for r in rounds]
    ratio = [r[variant][0] / r[base][0] for r in rounds]
    delta = [r[variant][1] - r[base][1] for r in rounds]
    print(
        f"{variant:<14} {statistics.median(rps):>9.0f} "
        f"{statistics.median(ratio):>8.3f} [{min(ratio):.3f}-{max(ratio):.3f}] "
        f"{statistics.median(cpu):>11.1f} "
        f"{statistics.median(delta):>+9.1f} [{min(delta):+.1f} to {max(delta):+.1f}]"
    )
    return ratio, delta


def verdict(met):
    return "met" if met else "NOT met"


def summarize_match(path):
    rounds = load(path, {BARE, SMALL, LARGE})
    if not rounds:
        raise SystemExit("summarize.py: no complete round")
    print(f"{len(rounds)} rounds; medians, [min-max] over rounds; base: bare")
    header()
    added = {}
    ratios = {}
    variants = [v for v in (BARE, NOOP, SMALL, LARGE) if all(v in r for r in rounds)]
    for variant in variants:
        ratios[variant], added[variant] = row(rounds, variant, BARE)
    if NOOP in variants:
        own = [r[SMALL][1] - r[NOOP][1] for r in rounds]
        print(
            f"wasp-10 over wasm-noop (the filter's own work): {statistics.median(own):+.1f} us/req "
            f"[{min(own):+.1f} to {max(own):+.1f}]"
        )
    # Match cost of 10k ops relative to 10 ops: the added CPU over bare, per round.
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
    print(f"  matching-only req/s >= 0.90 x bare: {small_ratio:.3f} -> {verdict(small_ratio >= GOAL_RATIO)}")
    if added_cost is not None:
        # The filter's own cost is what it adds over bare Envoy.
        print(f"  10k-op added CPU within 1.2x of 10-op: {added_cost:.2f} -> {verdict(added_cost <= 1.2)}")
    else:
        print("  10k-op added CPU within 1.2x of 10-op: wasp-10 added no CPU over bare in any round; not measurable")


def summarize_rewrite(path):
    pairs = [("bare-constant", "wasp-constant"), ("bare-append", "wasp-append")]
    rounds = load(path, {v for pair in pairs for v in pair})
    if not rounds:
        raise SystemExit("summarize.py: no complete round")
    print(f"{len(rounds)} rounds; medians, [min-max] over rounds; base: the bare variant of the same operation")
    header()
    ratios = {}
    for base, wasp in pairs:
        row(rounds, base, base)
        ratios[wasp], _ = row(rounds, wasp, base)
    print("for reference (no goal set by issue 3):")
    for _, wasp in pairs:
        ratio = statistics.median(ratios[wasp])
        print(f"  {wasp} req/s >= 0.90 x bare with static routes: {ratio:.3f} -> {verdict(ratio >= GOAL_RATIO)}")


def summarize_jwt(path):
    variants = [BARE, "wasp-open", "wasp-cached", "wasp-uncached", "authn-cached", "authn-nocache"]
    rounds = load(path, variants)
    if not rounds:
        raise SystemExit("summarize.py: no complete round")
    print(f"{len(rounds)} rounds; medians, [min-max] over rounds; base: bare")
    header()
    ratios = {}
    for variant in variants:
        ratios[variant], _ = row(rounds, variant, BARE)
    print("in the same round (req/s ratio, added CPU us/req):")
    for wasp, native in (
        ("wasp-cached", "wasp-open"),
        ("wasp-cached", "authn-cached"),
        ("wasp-uncached", "authn-nocache"),
    ):
        ratio = [r[wasp][0] / r[native][0] for r in rounds]
        delta = [r[wasp][1] - r[native][1] for r in rounds]
        print(
            f"  {wasp} / {native}: {median_range(ratio, lambda x: f'{x:.3f}')}, "
            f"{statistics.median(delta):+.1f} us/req [{min(delta):+.1f} to {max(delta):+.1f}]"
        )
    cached_vs_native = statistics.median([r["wasp-cached"][0] / r["authn-cached"][0] for r in rounds])
    cached = statistics.median(ratios["wasp-cached"])
    print("goals (issue 4):")
    print(
        f"  wasp cached req/s >= jwt_authn cached: {cached_vs_native:.3f} x -> "
        f"{verdict(cached_vs_native >= 1.0)}"
    )
    print(f"  wasp cached req/s >= 0.90 x bare: {cached:.3f} -> {verdict(cached >= GOAL_RATIO)}")


def in_round(rounds, variant, base):
    """Prints `variant` against `base` in the same round: req/s ratio and added CPU."""
    ratio = [r[variant][0] / r[base][0] for r in rounds]
    delta = [r[variant][1] - r[base][1] for r in rounds]
    print(
        f"  {variant} over {base}: {median_range(ratio, lambda x: f'{x:.3f}')}, "
        f"{statistics.median(delta):+.1f} us/req [{min(delta):+.1f} to {max(delta):+.1f}]"
    )


def summarize_apikey(path):
    variants = [BARE, "wasp-open", "wasp-key", "wasp-key-quota"]
    rounds = load(path, variants)
    if not rounds:
        raise SystemExit("summarize.py: no complete round")
    print(f"{len(rounds)} rounds; medians, [min-max] over rounds; base: bare")
    header()
    for variant in variants:
        row(rounds, variant, BARE)
    print("in the same round (req/s ratio, added CPU us/req):")
    in_round(rounds, "wasp-key", "wasp-open")
    in_round(rounds, "wasp-key-quota", "wasp-key")
    if all(len(r[v]) > 2 for r in rounds for v in variants):
        print("wasp-control CPU us/req (on CPU 0 with the load, not in the Envoy's CPU above):")
        for variant in variants:
            print(f"  {variant:<14} {median_range([r[variant][2] for r in rounds], lambda x: f'{x:.1f}')}")


SCENARIOS = {
    "match": summarize_match,
    "rewrite": summarize_rewrite,
    "jwt": summarize_jwt,
    "apikey": summarize_apikey,
}


def main():
    # A scenario run once per setting is named SCENARIO-SETTING (apikey-postgres-redis).
    scenario = sys.argv[1].split("-", 1)[0] if len(sys.argv) == 3 else ""
    if scenario not in SCENARIOS:
        raise SystemExit(__doc__)
    SCENARIOS[scenario](sys.argv[2])


if __name__ == "__main__":
    main()
