#!/bin/sh
# run-tests.sh — run each test binary, show its output, and finish with one
# summary line of individual tests ("tests: N passed, M failed"), counted from
# cmocka's own lines. Exits 1 when any binary fails (a crash counts as failed
# even if cmocka never printed). Test binaries are independent: each makes its
# own temp directory and its own amicd processes.
set -u
pass=0
fail=0
bad_bins=""
out=$(mktemp "${TMPDIR:-/tmp}/amicd-tests.XXXXXX")
trap 'rm -f "$out"' EXIT INT TERM
for t in "$@"; do
	name=$(basename "$t")
	echo "== $name"
	"$t" >"$out" 2>&1
	rc=$?
	cat "$out"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${f:-0}))
	if [ "$rc" -ne 0 ]; then
		bad_bins="$bad_bins $name"
		[ -z "$f" ] && fail=$((fail + 1)) # crashed before cmocka could count
	fi
done
echo
[ -z "$bad_bins" ] || echo "failing binaries:$bad_bins"
echo "tests: $pass passed, $fail failed"
[ -z "$bad_bins" ]
