#!/usr/bin/env bash
# The largest preemption bound at which each loom model finishes within a
# CPU-time limit (default 60 s), for README's loom table. Not part of
# `cargo test`: it runs every model at bound 1, 2, 3, ... (through
# PORTSIM_LOOM_BOUND, read by models/loom.rs) until one is killed by the
# limit or the execution count stops growing (then the model is saturated:
# no bound explores more, and it is also run unbounded); a model still
# within the limit at MAX_BOUND (default 8) is also tried unbounded.
#
#   scripts/loom-bounds.sh                 # every model, 60 s each
#   LIMIT=600 scripts/loom-bounds.sh NAME  # one model (a test name), 10 min
#
# The limit is CPU seconds (ulimit -t), not wall time, so a shared machine
# does not shrink the bounds. One line per run on stdout:
#   MODEL bound B: N executions in S s of CPU (ok | assertion failed | over the limit)
set -uo pipefail
cd "$(dirname "$0")/.."
limit=${LIMIT:-60}
max=${MAX_BOUND:-8}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target/loom}
RUSTFLAGS="--cfg loom" cargo test --locked --release --test loom --no-run 2>/dev/null
bin=$(RUSTFLAGS="--cfg loom" cargo test --locked --release --test loom --no-run --message-format=json 2>/dev/null |
  grep '"name":"loom"' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "loom-bounds: no loom test binary"; exit 2; }
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  mapfile -t models < <("$bin" --list 2>/dev/null | sed -n 's/: test$//p')
fi
run() { # model bound -> prints "executions cpu-seconds status"
  local out rc tf n status=ok
  tf=$(mktemp)
  out=$( (ulimit -t "$limit"; PORTSIM_LOOM_BOUND=$2 exec /usr/bin/time -o "$tf" -f '%U %S' \
    "$bin" "$1" --exact --nocapture --test-threads=1) 2>&1)
  rc=$?
  n=$(echo "$out" | sed -n 's/^loom explored \([0-9]*\) executions.*/\1/p' | tail -1)
  if [ $rc -ge 128 ] || grep -q 'signal' "$tf"; then status="over the limit"
  elif [ $rc -ne 0 ]; then status="assertion failed"; fi
  echo "${n:-?} $(awk 'NF==2 {printf "%.1f", $1+$2}' "$tf") $status"
  rm -f "$tf"
}
for m in "${models[@]}"; do
  prev=""
  best="none within ${limit} s"
  for b in $(seq 1 "$max"); do
    read -r n s status < <(run "$m" "$b")
    echo "$m bound $b: $n executions in ${s:-?} s of CPU ($status)"
    [ "$status" = "over the limit" ] && break
    best="$b"
    if [ "$n" = "$prev" ]; then
      read -r n s status < <(run "$m" none)
      echo "$m unbounded: $n executions in ${s:-?} s of CPU ($status)"
      [ "$status" != "over the limit" ] && best="unbounded"
      break
    fi
    prev=$n
    if [ "$b" = "$max" ]; then
      # Still growing at the last bound tried, and within the limit: try
      # without a bound.
      read -r n s status < <(run "$m" none)
      echo "$m unbounded: $n executions in ${s:-?} s of CPU ($status)"
      [ "$status" != "over the limit" ] && best="unbounded"
    fi
  done
  echo "$m: largest bound within ${limit} s: $best"
done
