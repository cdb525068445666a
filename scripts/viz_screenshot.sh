#!/usr/bin/env bash
# Serve kedro-viz on 127.0.0.1, open it in headless Chromium (Debian's `chromium` package) and save
# a screenshot, to check by eye what `kedro viz run` shows. Not part of the unit tests.
#   scripts/viz_screenshot.sh [OUT.png] [PORT]      (default: build/viz.png, port 4141)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/viz.png}
port=${2:-4141}
export KEDRO_DISABLE_TELEMETRY=1
bin=.venv/bin
command -v chromium >/dev/null || { echo "needs Debian's chromium: apt-get install chromium" >&2; exit 1; }
mkdir -p "$(dirname "$out")" build
"$bin/kedro" viz run --no-browser --host 127.0.0.1 --port "$port" > build/viz-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 90); do
  curl -fs "http://127.0.0.1:$port/api/main" > /dev/null && break
  sleep 1
done
curl -fs "http://127.0.0.1:$port/api/main" > /dev/null || { echo "kedro-viz did not start; see build/viz-server.log" >&2; exit 1; }
profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1600,1000 \
  --virtual-time-budget=15000 --screenshot="$out" "http://127.0.0.1:$port/" 2>/dev/null
rm -rf "$profile"
echo "screenshot: $out"
