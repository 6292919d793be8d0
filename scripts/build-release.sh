#!/usr/bin/env bash
# Builds the release binaries: berthd and the test tools as `cargo build --release --bins`
# does, and the berth CLI linked statically (glibc's static PIE). A CLI command is a process
# start: linked dynamically, each one maps libc, libm and libgcc_s and resolves their symbols,
# which takes about 0.6 ms of a `berth run --rm` here (1.8 ms to the first request, 1.2
# static). The CLI needs nothing of glibc that loads shared libraries at run time: it resolves
# no host names and looks up no users. Arguments go to cargo (`-q`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --exclude berth-cli --bins "$@"
cargo rustc --release -p berth-cli --bin berth "$@" -- -C target-feature=+crt-static
