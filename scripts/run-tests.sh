#!/bin/sh
# run-tests.sh — run each test binary, show its output, and finish with one
# summary line. Exits 1 when any binary fails. Test binaries are independent:
# each makes its own temp directory and its own amicd processes.
set -u
pass=0
fail=0
failed=""
for t in "$@"; do
	name=$(basename "$t")
	echo "== $name"
	if "$t"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		failed="$failed $name"
	fi
done
echo
echo "test binaries: $pass passed, $fail failed"
[ "$fail" -eq 0 ] || { echo "failed:$failed"; exit 1; }
