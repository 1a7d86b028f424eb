# lib.sh - helpers for end-to-end tests (sourced). Each check prints
# "ok - name" or "not ok - name"; tests/run.sh counts them.
# MESHRL_BIN points at the binaries under test; TMP is a fresh directory.
set -u
: "${MESHRL_BIN:?run through tests/run.sh or set MESHRL_BIN}"
: "${MESHRL_ROOT:=$(cd "$(dirname "$0")/../.." && pwd)}"
PATH="$MESHRL_BIN:$PATH"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; }

# check NAME CMD...: passes when CMD exits 0.
check() {
	name=$1; shift
	if "$@" >"$TMP/.out" 2>"$TMP/.err"; then ok "$name"; else
		notok "$name (exit $?)"; sed 's/^/    # /' "$TMP/.err" | head -n 20
	fi
}

# expect_fail NAME CODE PATTERN CMD...: passes when CMD exits with CODE and
# its stderr matches the extended regex PATTERN.
expect_fail() {
	name=$1 code=$2 pat=$3; shift 3
	"$@" >"$TMP/.out" 2>"$TMP/.err"
	rc=$?
	if [ "$rc" -eq "$code" ] && grep -Eq -- "$pat" "$TMP/.err"; then
		ok "$name"
	else
		notok "$name (exit $rc, want $code; stderr: $(head -c 300 "$TMP/.err"))"
	fi
}
