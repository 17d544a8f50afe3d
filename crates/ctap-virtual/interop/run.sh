#!/usr/bin/env bash
# Interop: python-fido2 2.2.1 (a client nobody here wrote) against the ctap-virtual
# UDP server. Creates or reuses a venv at target/interop-venv, builds and starts the
# `serve_udp` example on a free port, runs test_python_fido2.py against it, stops the
# server, and exits with the script's status.
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

echo "interop: building the serve_udp example" >&2
(cd "$root" && cargo build --quiet -p ctap-virtual --example serve_udp)
server_bin="$target/debug/examples/serve_udp"

workdir="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT

"$server_bin" 127.0.0.1:0 --touch-delay-ms "$touch_delay_ms" >"$workdir/stdout" 2>"$workdir/stderr" &
server_pid=$!

# The first stdout line is the bound address.
address=""
for _ in $(seq 1 100); do
    address="$(head -n 1 "$workdir/stdout" 2>/dev/null || true)"
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
echo "interop: server on udp $address" >&2

status=0
timeout 120 "$venv/bin/python" "$here/test_python_fido2.py" "$address" \
    --touch-delay-ms "$touch_delay_ms" || status=$?
exit "$status"
