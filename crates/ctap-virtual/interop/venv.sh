#!/usr/bin/env bash
# Makes (or reuses) the python-fido2 2.2.1 venv at target/interop-venv that the interop
# scripts and the hidraw harness's python-fido2 test use. .ci/run runs it before the
# test step, so that `cargo test --workspace` runs that test instead of skipping it.
# Without python3 or pip it says SKIPPED (a failure under CI: see .ci/skip.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/interop-venv"
# shellcheck source=../../../.ci/skip.sh
source "$root/.ci/skip.sh"

if [[ ! -x "$venv/bin/python" ]]; then
    command -v python3 >/dev/null || { ci_skip "python-fido2 venv: no python3"; exit 0; }
    echo "interop: creating a venv at $venv" >&2
    mkdir -p "$target"
    python3 -m venv "$venv" || { ci_skip "python-fido2 venv: python3 -m venv failed"; exit 0; }
fi
if [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("fido2"))' 2>/dev/null || true)" != "2.2.1" ]]; then
    echo "interop: installing fido2==2.2.1" >&2
    timeout 300 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "fido2==2.2.1" \
        || { ci_skip "python-fido2 venv: pip install fido2==2.2.1 failed"; exit 0; }
fi
