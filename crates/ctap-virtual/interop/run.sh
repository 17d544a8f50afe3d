#!/usr/bin/env bash
# Interop: python-fido2 2.2.1 (a client nobody here wrote) against the ctap-virtual
# UDP server. Creates or reuses a venv at target/interop-venv, builds the ctap CLI and
# starts `ctap serve --udp --state FILE` on a free port, runs test_python_fido2.py
# against it, restarts the server on the same state file and runs the --resumed
# checks, then starts it once more on a fresh state for test_python_fido2_features.py
# (the optional CTAP 2.1/2.2 features), stops the server, and exits non-zero if any run
# failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/interop-venv"
touch_delay_ms=600

if [[ ! -x "$venv/bin/python" ]]; then
    echo "interop: creating a venv at $venv" >&2
    python3 -m venv "$venv"
fi
if [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("fido2"))' 2>/dev/null || true)" != "2.2.1" ]]; then
    echo "interop: installing fido2==2.2.1" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "fido2==2.2.1"
fi

echo "interop: building the ctap CLI (its \`serve\` is the server under test)" >&2
(cd "$root" && cargo build --quiet -p ctap-cli)
server_bin="$target/debug/ctap"

workdir="$(mktemp -d)"
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

# Starts `ctap serve` on a free port with the state file of this run; sets $address.
start_server() {
    "$server_bin" serve --udp 127.0.0.1:0 --touch-delay "$touch_delay_ms" \
        --state "$workdir/state" >"$workdir/stdout" 2>"$workdir/stderr" &
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
exit "$status"
