# Sourced by .ci/run and the interop scripts: one rule for "this part cannot run here".
# Outside CI a skip says SKIPPED and why, and the run goes on (a developer without
# pcscd still gets the other checks). Under CI (the CI variable set to anything but
# empty, 0 or false: CI services set CI=true) a skip is not a pass: it says why and
# fails the run, so no required part can pass by not running.
# Usage: ci_skip "what did not run and why"   (returns 0 outside CI, exits 1 under CI)
ci_required() {
    case "${CI:-}" in
        "" | 0 | false) return 1 ;;
        *) return 0 ;;
    esac
}
ci_skip() {
    if ci_required; then
        echo "FAILED (CI is set, so a skip fails the run): $*" >&2
        exit 1
    fi
    echo "SKIPPED: $*"
}
