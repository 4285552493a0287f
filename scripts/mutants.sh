#!/usr/bin/env bash
# Mutation score of portsim's world modules with cargo-mutants
# (`cargo install cargo-mutants --locked`). Not part of `cargo test`.
#
#   scripts/mutants.sh                 # every module below, unit tests only
#   scripts/mutants.sh src/bridge      # one module (a folder or a file)
#   TESTS="" scripts/mutants.sh ...    # the whole suite instead of --lib
#
# Niced, one job, its own target directory (seeded from target/debug so
# only portsim itself rebuilds per mutant). Results: mutants.out/ (caught,
# missed, timeout, unviable lists); survivors that cannot be caught are
# listed with their reasons in mutants-survivors.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
modules=("$@")
if [ ${#modules[@]} -eq 0 ]; then
  modules=(src/bridge src/mapper src/allocator src/check.rs src/kernel src/rootlesskit)
fi
args=()
for m in "${modules[@]}"; do
  if [ -d "$m" ]; then args+=(-f "$m/**"); else args+=(-f "$m"); fi
done
# The real-kernel backend is exercised by tests that need root and network
# namespaces (tests/kernel_linux.rs), not by the unit tests run here.
args+=(-e "src/kernel/linux.rs")
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/mutants}"
if [ ! -d "$CARGO_TARGET_DIR/debug" ] && [ -d target/debug ]; then
  mkdir -p "$CARGO_TARGET_DIR" && cp -a target/debug "$CARGO_TARGET_DIR/"
fi
echo "mutants: $(cargo mutants --list "${args[@]}" | wc -l) in ${modules[*]}"
start=$(date +%s)
rc=0
# TESTS (default --lib) goes to every cargo phase, so only the unit-test
# binary is built per mutant.
cargo_args=()
for a in ${TESTS---lib}; do cargo_args+=(-C "$a"); done
nice -n 19 cargo mutants --no-shuffle -j 1 --timeout "${TIMEOUT:-180}" ${BASELINE:+--baseline "$BASELINE"} \
  "${args[@]}" "${cargo_args[@]}" || rc=$?
echo "mutants: $(( $(date +%s) - start ))s; exit $rc (0 all caught, 2 some missed, 3 timeouts)"
for f in caught missed timeout unviable; do
  printf '%-9s %s\n' "$f" "$(wc -l < mutants.out/$f.txt 2>/dev/null || echo 0)"
done
exit $rc
