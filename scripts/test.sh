#!/usr/bin/env bash
# Runs every berth test: unit tests and the integration tests, which start real registries
# and berthd daemons (as root: they mount overlays and unpack device nodes).
set -euo pipefail
# berth needs root (mounts, namespaces, cgroups): as root it runs as is; otherwise through sudo.
if [ "$(id -u)" != 0 ]; then
    exec sudo -E "$0" "$@"
fi
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --workspace --bins
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast "$@"
else
    cargo test --workspace --no-fail-fast "$@"
fi
