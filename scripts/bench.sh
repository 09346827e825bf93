#!/usr/bin/env bash
# `make bench`: every benchmark in bench/ with small sizes (a few minutes in all).
# Each prints its own figures and cleans up its database, broker names and Redis keys.
# Full-size runs: see each bench's --help and docs (e.g. bench/gateway.py --seconds 10).
# Run one:  scripts/bench.sh gateway      Run several:  scripts/bench.sh sender e2e
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

# bench/sender.py, bench/metrics.py and bench/followup.py are named like service packages:
# never put bench/ on the import path (PYTHONSAFEPATH, also for the processes a bench
# starts with `python bench/x.py`); run each as a module from the repository root
export PYTHONSAFEPATH=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
declare -A ARGS=(
  [gateway]="--connections 32 --seconds 5 --warmup 1"
  [wire]="--runs 5000 --requests 2000"
  [e2e]="--rate 20 --seconds 5"
  [sender]="--processes 3 --messages 400 --limit 80"
  [ratelimit]="--processes 3 --seconds 3 --rate 80 --burst 10"
  [debounce]="--conversations 200 --bursts 2 --messages 3 --quiet-ms 500"
  [followup]="--conversations 20000 --tenants 50 --due-pct 1"
  [metrics]="--events 200000 --tenants 50 --days 30 --requests 200 --seconds 3 --rounds 1"
  [retrieval]=""
  [vectors]="--sizes 500 5000 --queries 10"
  [hostile_files]="--megabytes 10 --rounds 5"
  [footprint]="--seconds 5 --clients 4"
  [speech_encode]="--seconds 60 --rounds 5"
  [replay_lab]="--conversations 50 --turns 3 --concurrency 4"
)
ORDER=(gateway wire e2e sender ratelimit debounce followup metrics retrieval vectors
  hostile_files footprint speech_encode replay_lab)
[ $# -gt 0 ] && ORDER=("$@")

failed=()
for name in "${ORDER[@]}"; do
  if [ ! -f "bench/$name.py" ]; then
    echo "no bench/$name.py" >&2
    failed+=("$name")
    continue
  fi
  if [ "$name" = gateway ] && ! command -v wrk >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null 2>&1
  fi
  if [ "$name" = gateway ] && ! command -v wrk >/dev/null 2>&1; then
    echo "== bench/gateway.py skipped: wrk is not installed (apt-get install -y wrk)"
    continue
  fi
  echo "== bench/$name.py ${ARGS[$name]:-}"
  # shellcheck disable=SC2086
  if ! "$PY" -m "bench.$name" ${ARGS[$name]:-}; then
    failed+=("$name")
  fi
  echo
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "benchmarks that failed: ${failed[*]}" >&2
  exit 1
fi
