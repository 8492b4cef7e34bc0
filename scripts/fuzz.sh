#!/usr/bin/env bash
# make fuzz: a short bounded cargo-fuzz run of every target in fuzz/ (see fuzz/README.md).
#
#   scripts/fuzz.sh                  every target, FUZZ_SECONDS (default 20) each
#   scripts/fuzz.sh decision jwks    only these targets
#   FUZZ_SECONDS=300 scripts/fuzz.sh decision
#
# Environment:
#   FUZZ_SECONDS    seconds per target (libFuzzer -max_total_time), default 20
#   FUZZ_MERGE=1    afterwards, merge the inputs that found new coverage into fuzz/corpus/
#                   (libFuzzer -merge=1: only inputs that add coverage are kept)
#   FUZZ_TOOLCHAIN  nightly | stable: force one way of building (default: nightly if installed)
#   FUZZ_SANITIZER  none | address | ...: cargo fuzz --sanitizer (default none: the code is
#                   safe Rust, where AddressSanitizer finds nothing a panic would not, and
#                   it makes a short run 5-8 times slower; address needs nightly)
#
# New inputs the fuzzer finds go to a temporary corpus directory (the first corpus directory
# is the one libFuzzer writes to; fuzz/corpus/<target> is passed second, read only), so a run
# leaves git clean unless FUZZ_MERGE=1. A crash, panic, timeout or failed invariant stops the
# run: the input is kept in fuzz/artifacts/<target>/, its path printed, and the script exits 1.
#
# Toolchains: cargo-fuzz passes -Z flags, which only nightly accepts. When no nightly is
# installed the stable compiler is used with RUSTC_BOOTSTRAP=1, which lets a stable rustc
# accept -Z flags, and with --sanitizer none (no -Zsanitizer, whose runtime libraries only
# ship with nightly). The coverage instrumentation libFuzzer needs (-Cpasses=sancov-module and
# the -Cllvm-args=-sanitizer-coverage-* options) are plain -C flags that stable supports, and
# libfuzzer-sys builds libFuzzer itself from source with the C++ compiler, so fuzzing works;
# only the memory sanitizer is missing, which safe Rust does not need to find panics. If even
# that cannot build, the script says "skipped: needs nightly", runs the property tests that
# cover the same areas instead, and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
fuzz_dir=fuzz

property_tests() {
    unset RUSTC_BOOTSTRAP
    echo "== property tests instead (same areas, proptest, part of cargo test)"
    cargo test -p wasp-config --test never_panics
    cargo test -p wasp-spec-compiler --test never_panics
    cargo test -p wasp-filter --test never_panics
    cargo test -p wasp-control-client --test never_panics --test decode_never_panics
    cargo test -p wasp-jwt --test never_panics
}

skip() {
    echo "fuzz: skipped: needs nightly ($1)"
    property_tests
    exit 0
}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked || skip "cargo-fuzz could not be installed"
fi

toolchain=${FUZZ_TOOLCHAIN:-}
if [[ -z $toolchain ]]; then
    if rustup run nightly rustc --version >/dev/null 2>&1; then
        toolchain=nightly
    else
        toolchain=stable
    fi
fi
fuzz=(cargo "+$toolchain" fuzz)
if [[ $toolchain == stable ]]; then
    # See the header: -Z flags on a stable compiler, no sanitizer runtime.
    export RUSTC_BOOTSTRAP=1
fi
sanitizer=${FUZZ_SANITIZER:-none}
build_flags=(--fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer")

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir "$fuzz_dir")
fi

echo "== building ${#targets[@]} fuzz targets ($toolchain toolchain, sanitizer $sanitizer)"
start=$SECONDS
build_log=$(mktemp)
one=()
[[ ${#targets[@]} -eq 1 ]] && one=("${targets[0]}")
if ! "${fuzz[@]}" build "${build_flags[@]}" "${one[@]}" >"$build_log" 2>&1; then
    tail -n 20 "$build_log"
    # A stable compiler refusing what only nightly offers is a skip; anything else (a
    # compile error in a target or a crate) is a failure.
    if [[ $toolchain == stable ]] && grep -qiE "nightly|unstable|-Z|sanitizer" "$build_log" &&
        ! grep -qE "^error\[E[0-9]+\]" "$build_log"; then
        rm -f "$build_log"
        skip "the $toolchain toolchain cannot build the targets"
    fi
    rm -f "$build_log"
    echo "fuzz: the fuzz targets do not build"
    exit 1
fi
rm -f "$build_log"
echo "   built in $((SECONDS - start)) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in "${targets[@]}"; do
    seeds="$fuzz_dir/corpus/$target"
    found="$scratch/$target"
    artifacts="$fuzz_dir/artifacts/$target"
    mkdir -p "$seeds" "$found" "$artifacts"
    log="$scratch/$target.log"
    echo "== $target: ${seconds} s from $(find "$seeds" -type f | wc -l) seeds"
    start=$SECONDS
    if "${fuzz[@]}" run "${build_flags[@]}" "$target" "$found" "$seeds" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
        cover=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
        slowest=$(grep -o 'stat::slowest_unit_time_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
        echo "   ok in $((SECONDS - start)) s: $runs runs, $cover, $(find "$found" -type f | wc -l) new inputs, slowest input ${slowest} s"
        if [[ ${FUZZ_MERGE:-0} == 1 ]] && [[ -n $(ls -A "$found") ]]; then
            "${fuzz[@]}" run "${build_flags[@]}" "$target" "$seeds" "$found" -- -merge=1 \
                >>"$log" 2>&1
            echo "   merged into $seeds ($(find "$seeds" -type f | wc -l) files)"
        fi
    else
        echo "   FAILED after $((SECONDS - start)) s:"
        # The panic message (up to the backtrace), else libFuzzer's own report.
        awk '/panicked at/ {on = 1} /^stack backtrace|^note: |^==[0-9]+==/ {on = 0} on' "$log" |
            head -n 20 | sed 's/^/   /'
        grep -E "ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY" "$log" | head -n 4 | sed 's/^/   /'
        artifact=$(grep -o "Test unit written to [^ ]*" "$log" | tail -n 1 | sed 's/Test unit written to //')
        echo "   input: ${artifact:-see $log}"
        echo "   again: ${RUSTC_BOOTSTRAP:+RUSTC_BOOTSTRAP=1 }${fuzz[*]} run ${build_flags[*]} $target ${artifact:-<input>}"
        cp "$log" "$artifacts/last-failure.log"
        echo "   log:   $artifacts/last-failure.log"
        failed+=("$target")
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}"
    exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds} s each with no failure"
