#!/bin/sh
# run-tests.sh — run each test binary, show its output, and finish with one
# summary line of individual tests ("tests: N passed, M failed"), counted from
# cmocka's own lines. Exits 1 when any binary fails (a crash counts as failed
# even if cmocka never printed). Test binaries are independent: each makes its
# own temp directory and its own amicd processes. A failing binary's exit status
# and the last lines it printed are repeated at the very end, so a CI log that
# keeps only its tail still shows what went wrong.
set -u
pass=0
fail=0
bad_bins=""
out=$(mktemp "${TMPDIR:-/tmp}/amicd-tests.XXXXXX")
tails=$(mktemp "${TMPDIR:-/tmp}/amicd-tests-tails.XXXXXX")
trap 'rm -f "$out" "$tails"' EXIT INT TERM
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
		{
			if [ "$rc" -gt 128 ]; then
				echo "== $name exited with status $rc (signal $((rc - 128))); its last lines:"
			else
				echo "== $name exited with status $rc; its last lines:"
			fi
			grep -v '^\[       OK \]\|^\[ RUN      \]' "$out" | tail -n 40
		} >>"$tails"
	fi
done
echo
cat "$tails"
[ -z "$bad_bins" ] || echo "failing binaries:$bad_bins"
echo "tests: $pass passed, $fail failed"
[ -z "$bad_bins" ]
