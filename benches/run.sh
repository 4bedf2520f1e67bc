#!/usr/bin/env bash
# Benchmark of `refrate run`: generates about N events (default 10 million) with the built-in
# generator, ingests them into a fresh warehouse, computes every rate and renders the reports,
# then prints rows/s and peak memory. Usage: benches/run.sh [EVENTS] [HOSPITALS] [MONTHS]
# Needs target/release/refrate (`make bench` builds it). Results go to docs/BENCHMARKS.md by hand,
# with the machine they were measured on.
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${1:-10000000}
HOSPITALS=${2:-20}
MONTHS=${3:-24}
BIN=${REFRATE_BIN:-target/release/refrate}
WORK=${BENCH_DIR:-target/bench}
export REFRATE_PSEUDONYM_KEY=refrate-bench-key-not-for-real-data
export REFRATE_DEMO=1  # the bench key is public: accepted only with this

# Runs a command with its stdout to $WORK/out.txt and prints "seconds peak-RSS-KiB" (GNU time).
# Exit codes 0 and 1 both mean "ran" for refrate.
peak() {
  local code=0
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$@" > "$WORK/out.txt" || code=$?
  if [ "$code" -gt 1 ]; then
    echo "command failed with exit $code: $*" >&2
    exit "$code"
  fi
  tail -1 "$WORK/time.txt"
}

rm -rf "$WORK"
mkdir -p "$WORK"
echo "== generating ~$EVENTS events ($HOSPITALS hospitals x $MONTHS months)"
read -r gen_s gen_kib <<< "$(peak "$BIN" --quiet sample --out "$WORK/data" --events "$EVENTS" \
  --hospitals "$HOSPITALS" --months "$MONTHS" --start 2023-04 --seed 42)"
rows=$(( $(cat "$WORK"/data/events/*.csv | wc -l) - $(ls "$WORK"/data/events/*.csv | wc -l) ))
bytes=$(du -cb "$WORK"/data/events/*.csv | tail -1 | cut -f1)
echo "   $rows rows, $((bytes / 1024 / 1024)) MiB of CSV in $gen_s s"

echo "== refrate run (ingest + publish + rates + reports)"
read -r run_s run_kib <<< "$(peak "$BIN" --quiet run --config "$WORK/data/refrate.yaml")"
echo "== refrate run again (same input: nothing to ingest)"
read -r rerun_s rerun_kib <<< "$(peak "$BIN" --quiet run --config "$WORK/data/refrate.yaml")"
echo "== refrate rates --period fiscal-year"
read -r rates_s rates_kib <<< "$(peak "$BIN" rates --config "$WORK/data/refrate.yaml" --period fiscal-year)"
wh=$(du -sb "$WORK/data/warehouse" | cut -f1)

rate=$(python3 -c "print(f'{$rows / $run_s:,.0f}')")
echo
echo "machine:   $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "rows:      $rows ($((bytes / 1024 / 1024)) MiB CSV -> $((wh / 1024 / 1024)) MiB Parquet)"
echo "run:       ${run_s} s, ${rate} rows/s, peak RSS $((run_kib / 1024)) MiB"
echo "rerun:     ${rerun_s} s, peak RSS $((rerun_kib / 1024)) MiB"
echo "rates:     ${rates_s} s, peak RSS $((rates_kib / 1024)) MiB"
