#!/usr/bin/env bash
# Peak RSS of `ctap cred list` and `ctap cred assert` against a key that claims 2^32
# results (issue 26: it must stay under 16 MiB at any --timeout). Starts `ctap serve`
# with a PIN and one discoverable credential, puts hostile_proxy.py in front of it, and
# runs each command through the proxy under /usr/bin/time for each --timeout given.
# Not part of CI (it measures; the bounds themselves are tested in ctap2-client's
# src/tests/hostile.rs). Needs the venv of venv.sh and GNU time.
# usage: [MODE=rps|creds|max] measure_rss.sh CTAP_BINARY TIMEOUT...   (e.g. 5 30 inf)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
py="${CARGO_TARGET_DIR:-$root/target}/interop-venv/bin/python"
bin=$1
shift
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
"$bin" serve --udp 127.0.0.1:0 --touch-delay 0 >"$work/out" 2>/dev/null &
addr=""
for _ in $(seq 50); do
    addr=$(head -1 "$work/out" 2>/dev/null || true)
    [[ -n "$addr" ]] && break
    sleep 0.1
done
addr=${addr#listening on udp:}
"$bin" --device "udp:$addr" pin set --new 123456 >/dev/null
"$bin" --device "udp:$addr" cred make --rp example.com --resident --pin 123456 >/dev/null 2>&1
port=$((20000 + RANDOM % 20000))
MODE=${MODE:-rps} "$py" "$here/hostile_proxy.py" "$port" "$addr" >"$work/proxy" 2>&1 &
sleep 1
for t in "$@"; do
    for cmd in "cred list" "cred assert --rp example.com"; do
        # shellcheck disable=SC2086 # $cmd is the command and its arguments
        /usr/bin/time -f "%M" -o "$work/rss" timeout $((${t/inf/60} + 30)) "$bin" \
            --device "udp:127.0.0.1:$port" --timeout "$t" $cmd --pin 123456 >/dev/null 2>"$work/err" \
            && rc=0 || rc=$?
        echo "--timeout $t  $cmd: exit $rc, peak RSS $(tail -1 "$work/rss") KiB: $(tail -1 "$work/err")"
    done
done
