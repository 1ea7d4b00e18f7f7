# Shared by the interop scripts: a scratch directory removed on exit, and assertions that say
# what failed. Source it; $1 of the script is the autoseal binary.
set -uo pipefail
AUTOSEAL=$(readlink -f "${AUTOSEAL:?}")
WORK=$(mktemp -d /tmp/autoseal-interop.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
FAILURES=0
pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; FAILURES=$((FAILURES + 1)); }
# check "description" command...: passes when the command exits 0.
check() { local d=$1; shift; if "$@" >"$WORK/last.out" 2>&1; then pass "$d"; else fail "$d"; sed 's/^/       /' "$WORK/last.out" | head -20; fi; }
# refuse "description" "expected text" command...: passes when the command exits non-zero with one
# line on stderr that contains the expected text.
refuse() {
  local d=$1 want=$2; shift 2
  if "$@" >"$WORK/last.out" 2>"$WORK/last.err"; then fail "$d: exited 0"; return; fi
  local lines; lines=$(wc -l <"$WORK/last.err")
  if [ "$lines" -ne 1 ]; then fail "$d: expected one line on stderr, got $lines"; sed 's/^/       /' "$WORK/last.err" | head; return; fi
  if grep -qF -- "$want" "$WORK/last.err"; then pass "$d"; else fail "$d: stderr lacks '$want'"; sed 's/^/       /' "$WORK/last.err"; fi
}
finish() { if [ "$FAILURES" -eq 0 ]; then echo "all passed"; exit 0; else echo "$FAILURES failed"; exit 1; fi; }
