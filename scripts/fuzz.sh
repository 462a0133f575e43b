#!/bin/sh
# fuzz.sh SECONDS BINARY... — run each libFuzzer harness for SECONDS on its own
# corpus, grown from tests/fuzz/seeds/<name>. Prints one line per harness (runs,
# coverage, corpus size). Exits 1 when any harness found a crash, a leak or a
# broken property; the input that did it is left in build/fuzz/crashes/ and
# named in the output: copy it into tests/fuzz/regressions/<name>/ (make test
# replays it from then on) and fix the bug.
set -u
seconds=$1
shift
status=0
mkdir -p build/fuzz/crashes
for bin in "$@"; do
	name=$(basename "$bin" | sed 's/^fuzz_//')
	corpus=build/fuzz/corpus/$name
	log=build/fuzz/$name.log
	mkdir -p "$corpus"
	if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="build/fuzz/crashes/$name-" "$corpus" "tests/fuzz/seeds/$name" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
		echo "fuzz $name: ${runs:-?} runs in ${seconds}s, $cov, corpus $(ls "$corpus" | wc -l) inputs: ok"
	else
		status=1
		echo "fuzz $name: FAILED; the end of its log ($log):"
		tail -n 40 "$log"
		ls build/fuzz/crashes/"$name"-* 2>/dev/null | sed 's/^/  input: /'
	fi
done
exit $status
