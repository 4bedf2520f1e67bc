#!/usr/bin/env bash
# Benchmark of `refrate run`: generates about N events (default 10 million) with the built-in
# generator, ingests them into a fresh warehouse, computes every rate and renders the reports,
# then prints rows/s and peak memory. The same CSV files go through the reference job (DuckDB from
# PyPI, installed into a venv here: CSV -> month-partitioned zstd Parquet, then the monthly counts,
# benches/duckdb_job.py), alternating with refrate REPEAT times (default 1), and the ratio is
# printed. Usage: benches/run.sh [EVENTS] [HOSPITALS] [MONTHS]
# Needs target/release/refrate (`make bench` builds it). Results go to docs/BENCHMARKS.md by hand,
# with the machine they were measured on.
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${1:-10000000}
HOSPITALS=${2:-20}
MONTHS=${3:-24}
BIN=${REFRATE_BIN:-target/release/refrate}
WORK=${BENCH_DIR:-target/bench}
REPEAT=${REPEAT:-1}
VENV=${BENCH_VENV:-target/bench-venv}
DUCKDB_VERSION=${DUCKDB_VERSION:-1.4.2}
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

# Nothing is deleted while benchmarking: on a file system that checks the inodes freed in the
# last five minutes before reusing one (ext4 without a journal, as on the machine of
# docs/BENCHMARKS.md), creating thousands of pages soon after deleting thousands cost refrate
# about 4 s of kernel time at 700 x 36, which DuckDB, writing a few dozen files, does not pay.
# So an earlier benchmark's folder is moved aside (remove WORK.old when no benchmark runs, or
# `make clean`), and each round writes into folders of its own.
if [ -e "$WORK" ]; then
  mkdir -p "$WORK.old"
  mv "$WORK" "$WORK.old/$(date +%Y%m%d-%H%M%S)-$$"
fi
mkdir -p "$WORK"
echo "== generating ~$EVENTS events ($HOSPITALS hospitals x $MONTHS months)"
read -r gen_s gen_kib <<< "$(peak "$BIN" --quiet sample --out "$WORK/data" --events "$EVENTS" \
  --hospitals "$HOSPITALS" --months "$MONTHS" --start 2023-04 --seed 42)"
rows=$(( $(cat "$WORK"/data/events/*.csv | wc -l) - $(ls "$WORK"/data/events/*.csv | wc -l) ))
bytes=$(du -cb "$WORK"/data/events/*.csv | tail -1 | cut -f1)
echo "   $rows rows, $((bytes / 1024 / 1024)) MiB of CSV in $gen_s s"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import duckdb" 2>/dev/null; then
  echo "== installing duckdb $DUCKDB_VERSION (PyPI) into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "duckdb==$DUCKDB_VERSION"
fi

# Alternating, so that both see the same machine state; the last run of each is reported.
for i in $(seq "$REPEAT"); do
  round="$WORK/data/round$i"
  sed -e "s|^warehouse: .*|warehouse: round$i/warehouse|" -e "s|^reports: .*|reports: round$i/reports|" \
    "$WORK/data/refrate.yaml" > "$WORK/data/round$i.yaml"
  echo "== refrate run (ingest + publish + rates + reports), round $i"
  read -r run_s run_kib <<< "$(peak "$BIN" --quiet run --config "$WORK/data/round$i.yaml")"
  echo "   ${run_s} s, peak RSS $((run_kib / 1024)) MiB"
  echo "== DuckDB: CSV -> month-partitioned zstd Parquet + monthly counts, round $i"
  read -r duck_s duck_kib <<< "$(peak "$VENV/bin/python" benches/duckdb_job.py "$WORK/data/events/*.csv" "$WORK/duckdb$i")"
  echo "   ${duck_s} s, peak RSS $((duck_kib / 1024)) MiB, $(cat "$WORK/out.txt") hospital-months"
done
config="$WORK/data/round$REPEAT.yaml"
echo "== refrate run again (same input: nothing to ingest)"
read -r rerun_s rerun_kib <<< "$(peak "$BIN" --quiet run --config "$config")"
echo "== refrate rates --period fiscal-year"
read -r rates_s rates_kib <<< "$(peak "$BIN" rates --config "$config" --period fiscal-year)"
wh=$(du -sb "$round/warehouse" | cut -f1)

rate=$(python3 -c "print(f'{$rows / $run_s:,.0f}')")
echo
echo "machine:   $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "rows:      $rows ($((bytes / 1024 / 1024)) MiB CSV -> $((wh / 1024 / 1024)) MiB Parquet)"
echo "run:       ${run_s} s, ${rate} rows/s, peak RSS $((run_kib / 1024)) MiB"
echo "rerun:     ${rerun_s} s, peak RSS $((rerun_kib / 1024)) MiB"
echo "duckdb:    ${duck_s} s, peak RSS $((duck_kib / 1024)) MiB (duckdb $DUCKDB_VERSION)"
echo "ratio:     refrate run / duckdb = $(python3 -c "print(f'{$run_s / $duck_s:.2f}')")"
echo "rates:     ${rates_s} s, peak RSS $((rates_kib / 1024)) MiB"
if [ -e "$WORK.old" ]; then
  echo "earlier benchmarks' folders are in $WORK.old: remove it when no benchmark runs"
fi
