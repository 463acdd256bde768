#!/usr/bin/env bash
# The deployment smoke run: deploy/smoke.sh [--drill] [--second-engine] [FILE...]
# (deploy/smoke.py says what it does; deploy/README.md, "Proving it on a real engine").
# As root, installs what it needs from Debian when missing: docker.io (dockerd 20.10 and
# its client), docker-compose 1.29, mmdebstrap (the base image without a registry) and
# iproute2 (the second engine's network namespace).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v dockerd >/dev/null || need+=(docker.io)
[ -x /usr/bin/docker-compose ] || need+=(docker-compose)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "smoke.sh: missing ${need[*]}; install them (apt-get install docker.io docker-compose mmdebstrap iproute2)" >&2
    exit 2
  fi
  echo "smoke.sh: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || bash scripts/install.sh >&2
# Debian's docker-compose and docker client, not another client that may be on PATH first.
export PATH="/usr/bin:/usr/sbin:$PATH"
exec .venv/bin/python deploy/smoke.py "$@"
