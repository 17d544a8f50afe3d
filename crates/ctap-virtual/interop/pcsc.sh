#!/usr/bin/env bash
# PC/SC end to end: a real pcscd with vsmartcard's virtual reader (vpcd) on a port and
# a socket of its own, the software authenticator as the card in it, then
#   1. our CtapPcscDevice (ctap-virtual's tests/pcsc.rs: getInfo, long messages through
#      chaining/extended length/GET RESPONSE, keep-alives, cancel, card removal),
#   2. `ctap serve --vpcd` with `ctap list` / `ctap --device pcsc info`,
#   3. python-fido2's CtapPcscDevice (pyscard): Ctap2(dev).get_info(), selection(), and
#      the PIN block cleared by closing with unpower and reconnecting.
# Installs pcscd, vsmartcard-vpcd, libpcsclite-dev (and swig to build pyscard) with
# apt-get when missing; says SKIPPED and which package when it cannot, and exits 0 (under CI: 1).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/interop-venv"

# shellcheck source=../../../.ci/skip.sh
source "$root/.ci/skip.sh"
# Says why and ends this script: exit 0 outside CI, a failure under CI (.ci/skip.sh).
skip() {
    ci_skip "PC/SC tests: $*"
    exit 0
}

# --- packages ----------------------------------------------------------------------
need=()
for package in pcscd vsmartcard-vpcd libpcsclite-dev swig; do
    dpkg -s "$package" >/dev/null 2>&1 || need+=("$package")
done
if ((${#need[@]})); then
    command -v apt-get >/dev/null || skip "no apt-get to install ${need[*]}"
    [[ "$(id -u)" == 0 ]] || skip "not root: cannot install ${need[*]}"
    echo "pcsc: installing ${need[*]}" >&2
    timeout 180 apt-get update -qq >/dev/null 2>&1 || echo "pcsc: apt-get update failed; trying the cached lists" >&2
    for package in "${need[@]}"; do
        if ! DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1; then
            # swig only builds pyscard: without it our own tests still run.
            [[ "$package" == swig ]] && { echo "pcsc: swig could not be installed" >&2; continue; }
            skip "Debian package $package could not be installed"
        fi
    done
fi
driver="$(dpkg -L vsmartcard-vpcd | grep -m1 'libifdvpcd\.so$' || true)"
[[ -n "$driver" ]] || skip "vsmartcard-vpcd has no libifdvpcd.so"

# --- pcscd on its own socket and port -----------------------------------------------
work="$(mktemp -d)"
pcscd_pid=""
serve_pid=""
cleanup() {
    for pid in "$serve_pid" "$pcscd_pid"; do
        if [[ -n "$pid" ]]; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$work/conf" "$work/run"
cat >"$work/conf/vpcd" <<EOF
FRIENDLYNAME "ctap-rs vpcd"
DEVICENAME   /dev/null:$port
LIBPATH      $driver
CHANNELID    $port
EOF
# pcscd 1.9 always listens on /run/pcscd/pcscd.comm (only its clients read
# PCSCLITE_CSOCK_NAME): give it a private /run/pcscd in a mount namespace of its own,
# so a system pcscd, if any, is left alone.
mkdir -p /run/pcscd
unshare --mount sh -c "mount --bind '$work/run' /run/pcscd && exec pcscd --foreground --config '$work/conf'" \
    >"$work/pcscd.log" 2>&1 &
pcscd_pid=$!
export PCSCLITE_CSOCK_NAME="$work/run/pcscd.comm"
for _ in $(seq 1 100); do
    [[ -S "$PCSCLITE_CSOCK_NAME" ]] && break
    kill -0 "$pcscd_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ ! -S "$PCSCLITE_CSOCK_NAME" ]]; then
    # No mount namespace here (unshare needs CAP_SYS_ADMIN): the default socket will
    # do, unless a system pcscd already has it.
    cat "$work/pcscd.log" >&2
    kill "$pcscd_pid" 2>/dev/null || true
    wait "$pcscd_pid" 2>/dev/null || true
    pcscd_pid=""
    [[ -e /run/pcscd/pcscd.comm ]] &&
        skip "pcscd cannot get a socket of its own (no mount namespace, and a system pcscd has /run/pcscd/pcscd.comm)"
    pcscd --foreground --config "$work/conf" >"$work/pcscd.log" 2>&1 &
    pcscd_pid=$!
    export PCSCLITE_CSOCK_NAME=/run/pcscd/pcscd.comm
    for _ in $(seq 1 100); do
        [[ -S "$PCSCLITE_CSOCK_NAME" ]] && break
        sleep 0.1
    done
    [[ -S "$PCSCLITE_CSOCK_NAME" ]] || { cat "$work/pcscd.log" >&2; skip "pcscd did not start"; }
fi
echo "pcsc: pcscd pid $pcscd_pid, socket $PCSCLITE_CSOCK_NAME, vpcd port $port" >&2

cd "$root"

# --- 1. our CtapPcscDevice, card in process ----------------------------------------
# Every cargo command here selects the whole workspace with the same features: cargo
# resolves features over the packages selected, so `-p ctap-virtual` and `-p ctap-cli`
# (and the test step's `cargo test --workspace`) each compiled the tree, the optimised
# RustCrypto crates too, with other features; selected alike, they share one build
# and only what the pcsc feature changes is compiled again.
pcsc_features=(--workspace --features ctap-virtual/pcsc,ctap-cli/pcsc)
# The pcsc code is outside the default build: lint it here, where libpcsclite is.
cargo clippy --quiet "${pcsc_features[@]}" --all-targets -- -D warnings
CTAP_TEST_VPCD="127.0.0.1:$port" cargo test "${pcsc_features[@]}" --test pcsc

# --- 2. `ctap serve --vpcd`, and the CLI over PC/SC --------------------------------
# (--examples: a target kind that needs the dev-dependencies, so that this build
# resolves the features of the test build above.)
cargo build --quiet "${pcsc_features[@]}" --examples --bin ctap
ctap="$target/debug/ctap"
"$ctap" serve --vpcd "127.0.0.1:$port" --touch-delay 300 >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 200); do
    "$ctap" list 2>/dev/null | grep -q '^pcsc:ctap-rs vpcd' && break
    kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.1
done
"$ctap" list
"$ctap" --device pcsc info | tee "$work/info.txt"
grep -q 'FIDO_2_1' "$work/info.txt"
"$ctap" --device "pcsc:ctap-rs vpcd" select

# --- 3. python-fido2's CtapPcscDevice --------------------------------------------
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import smartcard, fido2' 2>/dev/null ||
    [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("fido2"))')" != "2.2.1" ]]; then
    echo "pcsc: installing fido2==2.2.1 and pyscard into $venv" >&2
    if ! timeout 300 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "fido2==2.2.1" pyscard; then
        ci_skip "python-fido2 over PC/SC: pyscard could not be installed (it builds with swig, gcc and libpcsclite-dev)"
        exit 0
    fi
fi
timeout 120 "$venv/bin/python" "$here/test_pcsc_python_fido2.py" "ctap-rs vpcd"
# Issue 22: three wrong PINs block until a power cycle; close (SCARD_UNPOWER_CARD) and
# reconnect is one.
timeout 120 "$venv/bin/python" "$here/test_pcsc_power_cycle.py" "ctap-rs vpcd"
echo "pcsc: all PC/SC checks passed" >&2
