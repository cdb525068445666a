#!/usr/bin/env bash
# Screenshot of `kedro viz run` with the tour and upgrade banner dismissed; stops the server it
# starts. See scripts/viz_screenshot.py.   scripts/viz_screenshot.sh [OUT.png] [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/viz_screenshot.py "$@"
