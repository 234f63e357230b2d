#!/usr/bin/env bash
# Two builds of Herald (and of the baseline) side by side, with Nchan beside
# them for idle memory: the runs alternate, round after round, so that both
# builds see the same machine. Issue 23's figures in BENCHMARKS.md come from
#
#   bench/side-by-side.sh BEFORE_DIR AFTER_DIR [ROUNDS]     (default 3 rounds)
#
# BEFORE_DIR and AFTER_DIR each hold the release binaries `herald` and
# `baseline` of one build (copy them out of target/release); AFTER_DIR's
# `herald-bench` drives every run. Per round: the idle scenario (19,000
# streams held 30 s, keep-alives every 15 s as Nchan's configuration pings)
# on Herald and the baseline of both builds and on Nchan, then the other
# scenarios of BENCHMARKS.md on Herald of both builds. Results in
# bench/results/side-by-side/<scenario>-<server>-<build>-<round>.json (and
# .log); medians at the end (bench/side_by_side.py). Needs nginx-light and
# libnginx-mod-nchan. By hand only, on an otherwise idle machine: about
# 10 minutes a round.
#
# SCENARIOS=idle,fanout (say) runs only those; FIRST_ROUND=4 (say) numbers
# the rounds from there, adding to the results of earlier rounds.
set -euo pipefail
cd "$(dirname "$0")/.."

before=${1:?usage: bench/side-by-side.sh BEFORE_DIR AFTER_DIR [ROUNDS]}
after=${2:?usage: bench/side-by-side.sh BEFORE_DIR AFTER_DIR [ROUNDS]}
rounds=${3:-3}
scenarios=${SCENARIOS:-idle,fanout,sustained,burst,crud,writes}
results=bench/results/side-by-side
mkdir -p "$results"
bench="$after/herald-bench"

wanted() { [[ ",$scenarios," == *",$1,"* ]]; }

failed=()
# run NAME ARGS…: one run, its JSON in $results/NAME.json, its table in NAME.log.
run() {
  local name=$1
  shift
  # Another load generator on this machine (a colleague's run) would skew
  # both: wait until it is over.
  while pgrep -f herald-bench >/dev/null; do sleep 10; done
  echo "=== $name: $*"
  if ! "$bench" --label "$name" --json "$results/$name.json" "$@" \
      2> >(tee "$results/$name.log" >&2); then
    failed+=("$name")
  fi
}

idle=(--subscribers 19000 --writes 0 --hold 30)
first=${FIRST_ROUND:-1}
for round in $(seq "$first" $((first + rounds - 1))); do
  for build in before after; do
    dir=$before
    [[ $build == after ]] && dir=$after
    bins=(--herald-bin "$dir/herald" --baseline-bin "$dir/baseline")
    if wanted idle; then
      for server in herald baseline; do
        run "idle-$server-$build-$round" --spawn "$server" "${bins[@]}" \
          --server-env SSE_KEEP_ALIVE_SECS=15 "${idle[@]}"
      done
    fi
    wanted fanout && run "fanout-herald-$build-$round" --spawn herald "${bins[@]}" \
      --subscribers 5000 --writes 1000 --rate 200
    wanted sustained && run "sustained-herald-$build-$round" --spawn herald "${bins[@]}" \
      --subscribers 10000 --rate 10 --duration 30
    wanted burst && run "burst-herald-$build-$round" --spawn herald "${bins[@]}" \
      --subscribers 10000 --writes 1000 --rate 0
    wanted crud && run "crud-herald-$build-$round" --spawn herald "${bins[@]}" \
      --subscribers 0 --rate 10 --duration 30
    wanted writes && run "writes-herald-$build-$round" --spawn herald "${bins[@]}" \
      --subscribers 1 --writes 20000 --rate 0 --writers 32
  done
  wanted idle && run "idle-nchan-peer-$round" --spawn nchan "${idle[@]}"
done

python3 bench/side_by_side.py "$results" | tee "$results/summary.md"

if ((${#failed[@]})); then
  echo "runs that failed: ${failed[*]}" >&2
  exit 1
fi
