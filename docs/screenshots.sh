#!/usr/bin/env bash
# Screenshots of the demo reports for the README: `make screenshots` (runs `make demo` first).
# Needs Debian's chromium and a Japanese font (apt-get install chromium fonts-noto-cjk).
set -euo pipefail
reports="${1:-target/demo/reports}"
out="${2:-docs}"
chromium="${CHROMIUM:-/usr/bin/chromium}"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
shot() { # page, png, width, height
  "$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --disable-quic \
    --user-data-dir="$profile" --hide-scrollbars --force-device-scale-factor=1 \
    --window-size="$3,$4" --screenshot="$out/$2" "file://$(realpath "$reports/$1")" 2>/dev/null
  echo "wrote $out/$2"
}
shot 0110113719_FY2025.html report-hospital.png 1100 3000
shot index.html report-overview.png 1400 1100
