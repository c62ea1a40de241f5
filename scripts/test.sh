#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs and starts the peers the tests need
# (skipping what is already there), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

PEERS="$PWD/.peers"
mkdir -p "$PEERS"

log() { printf '\n== %s\n' "$*"; }

apt_install() {
    # apt_install <command that must exist> <debian packages...>
    local probe=$1; shift
    if command -v "$probe" >/dev/null 2>&1; then return 0; fi
    log "installing $* (apt)"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" \
        || DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
}

# Prometheus: promtool checks the /metrics exposition; the server scrapes a live pipeline.
apt_install promtool prometheus

log "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

log "cargo test"
cargo test --workspace --all-targets
cargo test --workspace --doc

log "the example runs"
cargo run --quiet --example embedded
