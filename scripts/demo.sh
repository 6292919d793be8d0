#!/usr/bin/env bash
# Builds berth, starts berthd on its default socket, starts a local registry holding the test
# images, and pulls one with berth. Leaves berthd and the registry running; stop them with
# `scripts/demo.sh stop`.
set -euo pipefail
# berth needs root (mounts, namespaces, cgroups): as root it runs as is; otherwise through sudo.
if [ "$(id -u)" != 0 ]; then
    exec sudo -E "$0" "$@"
fi
cd "$(dirname "$0")/.."
state=/tmp/berth-demo
if [ "${1:-}" = stop ]; then
    for f in "$state"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; rm -f "$f"; done
    exit 0
fi
bash scripts/deps.sh
bash scripts/build-release.sh
mkdir -p "$state"
port=${REGISTRY_PORT:-5000}
./target/release/test-registry "$state/registry" "$port" > "$state/registry.log" 2>&1 &
echo $! > "$state/registry.pid"
for _ in $(seq 200); do grep -q '^ready' "$state/registry.log" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$state/registry.log" || { cat "$state/registry.log"; exit 1; }
./target/release/berthd > "$state/berthd.log" 2>&1 &
echo $! > "$state/berthd.pid"
for _ in $(seq 100); do [ -S /run/berth/berth.sock ] && break; sleep 0.05; done
export PATH="$PWD/target/release:$PATH"
berth version
berth pull "127.0.0.1:$port/library/busybox"
berth tag "127.0.0.1:$port/library/busybox" busybox
berth images
berth run --rm busybox echo "hello from a berth container"
echo
echo "berthd is running (log: $state/berthd.log); berth is in $PWD/target/release."
echo "The registry on 127.0.0.1:$port holds busybox, twolayer, whiteout, multi and compressed."
echo "Stop both with: scripts/demo.sh stop"
