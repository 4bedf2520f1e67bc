#!/usr/bin/env bash
# One month added to a warehouse of 24: generates HOSPITALS x 25 months, runs `refrate run` on
# the first 24, then adds the 25th and runs again, then once more with nothing new. Prints the
# three times and peak memories (GNU time). Usage: benches/one_month.sh [EVENTS] [HOSPITALS]
# (defaults 12870000 and 40: about 10.8 million rows in the 24 months). Needs
# target/release/refrate (`make build`).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-12870000}
HOSPITALS=${2:-40}
BIN=${REFRATE_BIN:-target/release/refrate}
WORK=${BENCH_DIR:-target/bench-one-month}
export REFRATE_PSEUDONYM_KEY=refrate-bench-key-not-for-real-data
export REFRATE_DEMO=1  # the bench key is public: accepted only with this

# Moved aside, not deleted: see benches/run.sh (a file system slow to reuse freed inodes).
if [ -e "$WORK" ]; then
  mkdir -p "$WORK.old"
  mv "$WORK" "$WORK.old/$(date +%Y%m%d-%H%M%S)-$$"
fi
mkdir -p "$WORK/later"
"$BIN" --quiet sample --out "$WORK/data" --events "$EVENTS" --hospitals "$HOSPITALS" --months 25 \
  --start 2023-04 --seed 42 > /dev/null
last=$(ls "$WORK"/data/events/*.csv | tail -1)
mv "$last" "$WORK/later/"
echo "rows in the first 24 months: $(( $(cat "$WORK"/data/events/*.csv | wc -l) - 24 ))"
# Exit 1 (some hospital needs review) is a run that ran.
timed() {
  local label=$1; shift
  /usr/bin/time -f "$label: %e s, peak RSS %M KiB, user %U s" "$@" > /dev/null 2> "$WORK/err.txt" || [ $? -eq 1 ]
  tail -1 "$WORK/err.txt"
}
timed "24 months, full run" "$BIN" --quiet run --config "$WORK/data/refrate.yaml"
mv "$WORK"/later/*.csv "$WORK/data/events/"
timed "one month added" "$BIN" --quiet run --config "$WORK/data/refrate.yaml"
timed "rerun, nothing new" "$BIN" --quiet run --config "$WORK/data/refrate.yaml"
