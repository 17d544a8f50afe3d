#!/usr/bin/env bash
# Interop: python-fido2 2.2.1 (a client nobody here wrote) against the ctap-virtual
# UDP server. Creates or reuses a venv at target/interop-venv (venv.sh), builds the ctap CLI and
# starts `ctap serve --udp --state FILE` on a free port, runs test_python_fido2.py
# against it, restarts the server on the same state file and runs the --resumed
# checks, then starts it on a fresh state for test_python_fido2_features.py (the
# optional CTAP 2.1/2.2 features) and once more with a fingerprint sensor and
# enterprise attestation for its --bio checks, stops the server, and exits non-zero
# if any run failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/interop-venv"
touch_delay_ms=600

bash "$here/venv.sh"
if [[ ! -x "$venv/bin/python" ]]; then
    exit 0 # venv.sh said SKIPPED (outside CI; under CI it failed the run)
fi

echo "interop: building the ctap CLI (its \`serve\` is the server under test)" >&2
# The workspace's features (--examples: a target kind that needs the dev-dependencies),
# as `cargo test --workspace` builds it, so after the tests this build is fresh;
# `-p ctap-cli` resolved other features and compiled the tree a second time.
(cd "$root" && cargo build --quiet --workspace --examples --bin ctap)

workdir="$(mktemp -d)"
# A copy, so that a build beside this script (.ci/run runs it in the background) cannot
# change the server between its restarts.
server_bin="$workdir/ctap"
cp "$target/debug/ctap" "$server_bin"
server_pid=""
stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$workdir"
}
trap cleanup EXIT

# Starts `ctap serve` on a free port with the state file of this run (and any extra
# options given); sets $address.
start_server() {
    # Emptied here, not only by the redirection below: that happens in the background
    # child, so the loop could read the previous server's address (seen on the restart:
    # Connection refused on the old port).
    : >"$workdir/stdout"
    "$server_bin" serve --udp 127.0.0.1:0 --touch-delay "$touch_delay_ms" \
        --state "$workdir/state" "$@" >"$workdir/stdout" 2>"$workdir/stderr" &
    server_pid=$!
    # The first stdout line is `listening on udp:HOST:PORT`.
    address=""
    for _ in $(seq 1 100); do
        address="$(head -n 1 "$workdir/stdout" 2>/dev/null || true)"
        address="${address#listening on udp:}"
        [[ -n "$address" ]] && break
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "interop: the server exited early:" >&2
            cat "$workdir/stderr" >&2
            exit 1
        fi
        sleep 0.1
    done
    if [[ -z "$address" ]]; then
        echo "interop: the server printed no address within 10 s" >&2
        exit 1
    fi
    echo "interop: ctap serve on udp $address" >&2
}

start_server
status=0
timeout 300 "$venv/bin/python" "$here/test_python_fido2.py" "$address" \
    --touch-delay-ms "$touch_delay_ms" || status=$?

# A restart with the same --state: PIN, credentials and counter survive.
stop_server
start_server
timeout 120 "$venv/bin/python" "$here/test_python_fido2.py" "$address" \
    --touch-delay-ms "$touch_delay_ms" --resumed || status=$?

# The optional CTAP 2.1/2.2 features (large blobs, credBlob, minPinLength RP IDs,
# thirdPartyPayment, ...) on a fresh state: test_python_fido2_features.py.
stop_server
rm -f "$workdir/state"
start_server
timeout 300 "$venv/bin/python" "$here/test_python_fido2_features.py" "$address" || status=$?

# Built-in UV with a scripted fingerprint sensor (four good enrollment samples, then a
# wrong finger, then right ones) and enterprise attestation, on a fresh state.
stop_server
rm -f "$workdir/state"
start_server --fingerprint match,match,match,match,no-match --enterprise-rp example.com
timeout 300 "$venv/bin/python" "$here/test_python_fido2_features.py" "$address" --bio || status=$?
exit "$status"
