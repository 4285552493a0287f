#!/usr/bin/env bash
# Mutation score of portsim's world modules with cargo-mutants
# (`cargo install cargo-mutants --locked`, 27.1.0). Not part of `cargo test`.
#
#   scripts/mutants.sh                     # every module below
#   scripts/mutants.sh src/bridge          # one module (a folder or a file)
#   SHARD=1/4 scripts/mutants.sh           # a quarter of the mutants
#   OUT=mutants-kernel scripts/mutants.sh src/kernel   # results in OUT/mutants.out
#   SHUFFLE=1 SHARD=0/2 scripts/mutants.sh   # random order: stopped early, what ran is a sample
#   JOBS=2 scripts/mutants.sh              # two mutants at a time, each scratch tree
#                                          # building into its own target/ (a shared
#                                          # target dir makes every build a full one)
#   TESTS="--lib --test properties" scripts/mutants.sh src/mapper/broken.rs
#   SKIP=slow_test OUT=o scripts/mutants.sh   # pass 1: without the unit tests named
#   ITERATE=1 OUT=o scripts/mutants.sh        # pass 2: every test, only on what pass 1
#                                             # did not catch (cargo-mutants --iterate)
#   NAMES=o/mutants.out/missed.txt OUT=p scripts/mutants.sh   # exactly the mutants
#                                             # named in a file, one per line
#
# Two passes are exact, not a sample: a mutant some of the tests catch is
# caught by all of them, and pass 2 runs everything on the rest. The whole
# scope runs as pass 1 with SKIP=concurrent_same_spec_one_wins (one shuttle
# DFS unit test, 8 of the 10 s of an unoptimized unit-test run), then pass 2.
#
# The fast configuration (measured in mutants-survivors.txt):
# - only the unit-test binary (`--lib`, so one build of the crate per
#   mutant); it replays every shipped scenario under every policy against
#   its reviewed snapshot (`mapper::tests`), which is what catches the
#   mapper and bridge mutants that tests/scenarios.rs catches, without the
#   second test binary;
# - the `mutants` cargo profile (the test profile without debug info);
# - its own target directory, seeded once by building the unmutated tree,
#   so only portsim itself rebuilds per mutant;
# - niced, one job; a baseline run first (an unmutated tree whose tests
#   fail would count every mutant as caught); BASELINE=skip saves it when
#   the tree is known to pass, as in the runs of mutants-survivors.txt.
# Mutants of `#[cfg(test)]` helpers (`tests::`) are not counted. The
# real-kernel backend (src/kernel/linux.rs: root and network namespaces,
# tests/kernel_linux.rs) and the real-rootlesskit driver
# (src/rootlesskit/real.rs: root and the rootlesskit binary,
# tests/rootlesskit_real.rs) are test harnesses for the comparison against
# the real systems, not part of the model: excluded, with the deliberately
# broken policies of src/mapper/broken.rs, which only tests/properties.rs
# uses (run them with the TESTS line above).
# Results: OUT/mutants.out/ (caught, missed, timeout, unviable lists);
# survivors and why: mutants-survivors.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
modules=("$@")
if [ ${#modules[@]} -eq 0 ]; then
  modules=(src/kernel src/allocator src/mapper src/rootlesskit src/bridge src/check.rs)
fi
args=()
for m in "${modules[@]}"; do
  if [ -d "$m" ]; then args+=(-f "$m/**"); else args+=(-f "$m"); fi
done
args+=(-e src/kernel/linux.rs -e src/rootlesskit/real.rs)
if [ "${TESTS---lib}" = "--lib" ]; then args+=(-e src/mapper/broken.rs); fi
args+=(-E 'tests::')
jobs="${JOBS:-1}"
if [ "$jobs" -gt 1 ]; then
  # Each of cargo-mutants' scratch trees keeps its own incremental state:
  # with one target dir the trees' different paths make every build of
  # portsim a full one (measured: 30-200 s against 3-7 s).
  unset CARGO_TARGET_DIR
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target-mutants}"
fi
out="${OUT:-.}"
mkdir -p "$out"
cargo_args=()
for a in ${TESTS---lib}; do cargo_args+=(-C "$a"); done
test_args=()
if [ -n "${SKIP:-}" ]; then
  test_args=(--)
  for t in $SKIP; do test_args+=(--skip "$t"); done
fi
# Seed once: the dependencies in the mutants profile. (Not on every run:
# cargo-mutants builds the crate from its copy of the tree into the same
# artifacts, so building the worktree here again would cost a full build.)
if [ "$jobs" = 1 ] && [ ! -d "$CARGO_TARGET_DIR/mutants" ]; then
  # shellcheck disable=SC2086
  nice -n 19 cargo test --locked --profile mutants ${TESTS---lib} --no-run -q
fi
echo "mutants: $(cargo mutants --list "${args[@]}" | wc -l) in ${modules[*]}${SHARD:+, shard $SHARD}"
start=$(date +%s)
rc=0
order=--no-shuffle
[ -n "${SHUFFLE:-}" ] && order=--shuffle
[ -n "${ITERATE:-}" ] && order="$order --iterate"
if [ -n "${NAMES:-}" ]; then
  # Every other mutant of the scope is marked caught, and --iterate skips
  # it (cargo-mutants 27's -F does not filter its `delete field` mutants).
  mkdir -p "$out/mutants.out"
  cargo mutants --list "${args[@]}" | grep -vxFf "$NAMES" > "$out/mutants.out/previously_caught.txt" || true
  order="$order --iterate"
fi
# shellcheck disable=SC2086
nice -n 19 cargo mutants $order -j "$jobs" --gitignore true --profile mutants --timeout "${TIMEOUT:-120}" \
  --baseline "${BASELINE:-run}" ${SHARD:+--shard "$SHARD" --sharding round-robin} -o "$out" \
  "${args[@]}" "${cargo_args[@]}" ${test_args[@]+-- "${test_args[@]}"} || rc=$?
echo "mutants: $(( $(date +%s) - start ))s; exit $rc (0 all caught, 2 some missed, 3 timeouts)"
for f in caught missed timeout unviable; do
  printf '%-9s %s\n' "$f" "$(wc -l < "$out/mutants.out/$f.txt" 2>/dev/null || echo 0)"
done
exit $rc
