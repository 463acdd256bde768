#!/usr/bin/env bash
# `make dev`: the Dagster UI and daemon on this machine, with the instance under
# $VIDMINE_HOME/dagster (generated dagster.yaml: run queue capped per provider tag) and
# each AI stage pool's limit applied from vidmine.yaml before the daemon starts.
set -euo pipefail
cd "$(dirname "$0")/.."
export VIDMINE_HOME="${VIDMINE_HOME:-$PWD/.vidmine}"
export DAGSTER_HOME="${DAGSTER_HOME:-$VIDMINE_HOME/dagster}"
mkdir -p "$VIDMINE_HOME/uploads" "$DAGSTER_HOME"
.venv/bin/vidmine limits apply
echo "drop videos into $VIDMINE_HOME/uploads (or uploads/<profile>/); UI on http://127.0.0.1:${PORT:-3000}"
exec .venv/bin/python scripts/run_dev.py \
  .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p "${PORT:-3000}"
