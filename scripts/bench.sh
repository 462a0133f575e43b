#!/bin/bash
# bench.sh — throughput and latency of amicd next to two reference servers, in one run.
#
#   bare     bench/bare.c: libmicrohttpd in amicd's threading mode, reads the body,
#            answers 202. The ceiling: what amicd would do if its own work were free.
#   webhook  adnanh/webhook (Debian package), one hook checking X-Gitlab-Token and
#            running /bin/true. The common alternative.
#   amicd    the real thing: token check, JSON parse, classify, one SQLite row per
#            request (every request carries a unique Idempotency-Key), info logging
#            to a file.
#
# For 16 and 64 connections (wrk -t2) each target gets BENCH_SECONDS (default 10)
# of POSTs of tests/data/gitlab-push.json. Prints req/s, p50, p99, the server's
# CPU time per request (user+system of the process and its reaped children, up to
# the moment all servers are idle again, so work deferred past the run counts),
# ratios, amicd's peak RSS and how many events it stored. After every run the
# script waits for the servers to go idle before the next one starts. BENCH_PERF=1
# also profiles amicd with perf during its 64-connection run.
#
# wrk shares the machine with the servers: on a small box the figures are
# relative, not absolute; compare the ratios.
#
# usage: AMICD_BIN=build/amicd BARE_BIN=build/bench/bare scripts/bench.sh   (or: make bench)
# exit:  0 ok; 1 a server did not start, amicd answered non-2xx, or wrk failed.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
AMICD_BIN=${AMICD_BIN:-$here/build/amicd}
BARE_BIN=${BARE_BIN:-$here/build/bench/bare}
WEBHOOK_BIN=${WEBHOOK_BIN:-webhook}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_PERF=${BENCH_PERF:-0}
CONNECTIONS="16 64"
THREADS=2
BODY=$here/tests/data/gitlab-push.json
TOKEN=bench-gitlab-token-$$-$RANDOM

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

for bin in "$AMICD_BIN" "$BARE_BIN"; do
	[ -x "$bin" ] || die "$bin is not built (run: make bench)"
done
for cmd in wrk curl ss python3 "$WEBHOOK_BIN"; do
	command -v "$cmd" >/dev/null 2>&1 || die "$cmd is not installed (scripts/deps.sh bench)"
done
[ -r "$BODY" ] || die "cannot read $BODY"
case $BENCH_SECONDS in '' | *[!0-9]* | 0) die "BENCH_SECONDS must be a positive integer" ;; esac

# --- processes and cleanup ----------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/amicd-bench.XXXXXX")
pids=""

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local rc=$? pid i
	trap - EXIT INT TERM
	for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in $pids; do
		for i in $(seq 1 50); do  # up to 5 s each, then KILL
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A port nobody listens on, from a random base; never the same one twice.
taken=""
free_port() {
	local base=$((20000 + (RANDOM % 30000))) p i
	for i in $(seq 0 500); do
		p=$((base + i))
		case " $taken " in *" $p "*) continue ;; esac
		if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then
			taken="$taken $p"
			echo "$p"
			return 0
		fi
	done
	die "no free TCP port found near $base"
}

# wait_ready NAME PID URL LOG: poll URL until it answers an HTTP status, for up to 10 s.
wait_ready() {
	local name=$1 pid=$2 url=$3 log=$4 code deadline=$((SECONDS + 10))
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			note "$name exited during start-up; its log:"
			tail -n 20 "$log" >&2 || true
			exit 1
		fi
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null || true)
		[ -n "$code" ] && [ "$code" != 000 ] && return 0
		if [ "$SECONDS" -ge "$deadline" ]; then
			note "$name did not answer on $url within 10 s; its log:"
			tail -n 20 "$log" >&2 || true
			exit 1
		fi
		sleep 0.05
	done
}

# --- configuration ---------------------------------------------------------------
mkdir -p "$tmp/secrets" "$tmp/pins"
cp "$BODY" "$tmp/body.json"
printf '%s\n' "$TOKEN" >"$tmp/secrets/gitlab-token"
printf '%s\n' "bench-eventbridge-key-$RANDOM" >"$tmp/secrets/eb-key"
printf '%s\n' "bench-admin-token-$RANDOM" >"$tmp/secrets/admin-token"
chmod 600 "$tmp"/secrets/*

amicd_port=$(free_port)
webhook_port=$(free_port)

cat >"$tmp/amicd.yml" <<EOF
# written by scripts/bench.sh
listen: 127.0.0.1:$amicd_port
database: $tmp/amicd.db
pins_dir: $tmp/pins
log_level: info

auth:
  gitlab:      { token_file: $tmp/secrets/gitlab-token }
  eventbridge: { api_key_header: x-api-key, api_key_file: $tmp/secrets/eb-key }
  admin:       { token_file: $tmp/secrets/admin-token }

limits:
  max_body_bytes: 1048576

trigger:
  url: http://127.0.0.1:9/unused
  timeout_seconds: 10
  max_attempts: 20

accounts:
  - { name: image-builder-stage, uid: "444455556666" }

terraformResources:
  - provider: asg
    identifier: workers-stage
    account: image-builder-stage
    region: eu-west-1
    policy: head
    image:
      repo: { url: https://gitlab.example.net/platform/golden-images, ref: main, tag_name: git-sha }
EOF

cat >"$tmp/hooks.json" <<EOF
[
  {
    "id": "gitlab",
    "execute-command": "/bin/true",
    "response-message": "queued",
    "trigger-rule": {
      "match": { "type": "value", "value": "$TOKEN",
                 "parameter": { "source": "header", "name": "X-Gitlab-Token" } }
    }
  }
]
EOF

# One Lua state per wrk thread: setup() numbers the threads, init() builds a
# prefix from the run label (wrk ... -- LABEL) and that number, request() adds a
# counter, so every request of the whole run has its own Idempotency-Key.
cat >"$tmp/post.lua" <<EOF
local f = assert(io.open("$tmp/body.json", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Gitlab-Event"] = "Push Hook"
wrk.headers["X-Gitlab-Token"] = "$TOKEN"

local nthreads = 0
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end

local prefix = "bench"
local counter = 0
function init(args)
  prefix = string.format("bench-%s-%s-%d-", args[1] or "run", tostring(os.time()), tid or 0)
end

function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = prefix .. counter
  return wrk.format()
end
EOF

# --- start the servers ---------------------------------------------------------------
"$AMICD_BIN" serve --config "$tmp/amicd.yml" >"$tmp/amicd.out" 2>"$tmp/amicd.log" &
amicd_pid=$!
pids="$pids $amicd_pid"

"$BARE_BIN" 0 >"$tmp/bare.out" 2>"$tmp/bare.log" &
bare_pid=$!
pids="$pids $bare_pid"

"$WEBHOOK_BIN" -hooks "$tmp/hooks.json" -ip 127.0.0.1 -port "$webhook_port" >"$tmp/webhook.log" 2>&1 &
webhook_pid=$!
pids="$pids $webhook_pid"

# bare prints "port N" once it listens
deadline=$((SECONDS + 10))
bare_port=""
while [ -z "$bare_port" ]; do
	bare_port=$(sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$tmp/bare.out" 2>/dev/null || true)
	[ -n "$bare_port" ] && break
	kill -0 "$bare_pid" 2>/dev/null || { note "bare exited:"; cat "$tmp/bare.log" >&2; exit 1; }
	[ "$SECONDS" -lt "$deadline" ] || die "bare printed no port within 10 s"
	sleep 0.05
done

wait_ready amicd "$amicd_pid" "http://127.0.0.1:$amicd_port/readyz" "$tmp/amicd.log"
wait_ready bare "$bare_pid" "http://127.0.0.1:$bare_port/" "$tmp/bare.log"
wait_ready webhook "$webhook_pid" "http://127.0.0.1:$webhook_port/hooks/gitlab" "$tmp/webhook.log"

url_amicd="http://127.0.0.1:$amicd_port/hooks/gitlab"
url_bare="http://127.0.0.1:$bare_port/hooks/gitlab"
url_webhook="http://127.0.0.1:$webhook_port/hooks/gitlab"

# One real delivery to each, so a misconfigured target fails here and not as a
# fast stream of errors that would look like good throughput.
probe() { # probe NAME URL WANT-STATUS WANT-BODY-SUBSTRING
	local out code
	out=$(curl -s --max-time 5 -w '\n%{http_code}' -X POST "$2" \
		-H 'Content-Type: application/json' -H 'X-Gitlab-Event: Push Hook' \
		-H "X-Gitlab-Token: $TOKEN" -H "Idempotency-Key: probe-$1-$$" \
		--data-binary "@$tmp/body.json") || die "$1: probe request failed"
	code=${out##*$'\n'}
	out=${out%$'\n'*}
	[ "$code" = "$3" ] || die "$1: probe answered $code, wanted $3: $out"
	case $out in *"$4"*) ;; *) die "$1: probe answer lacks \"$4\": $out" ;; esac
}
probe amicd "$url_amicd" 202 '"queued"'
probe bare "$url_bare" 202 '"queued"'
probe webhook "$url_webhook" 200 'queued'

# events[0].id of GET /api/v1/events?limit=1 (0 when there are none)
last_event_id() {
	curl -sf --max-time 5 "http://127.0.0.1:$amicd_port/api/v1/events?limit=1" |
		python3 -c 'import json,sys; e=json.load(sys.stdin).get("events") or [{}]; print(e[0].get("id", 0))'
}
events_before=$(last_event_id) || die "amicd: GET /api/v1/events failed"

note "amicd pid $amicd_pid :$amicd_port, bare pid $bare_pid :$bare_port, webhook pid $webhook_pid :$webhook_port"
note "wrk -t$THREADS -d${BENCH_SECONDS}s, connections: $CONNECTIONS; $(nproc) CPUs; $(wc -c <"$BODY") byte body"

# --- runs -----------------------------------------------------------------------------
# A server that died mid-run shows in wrk only as socket errors: say so plainly.
check_alive() {
	local name pid log st
	for name in amicd bare webhook; do
		eval "pid=\$${name}_pid"
		kill -0 "$pid" 2>/dev/null && continue
		st=0
		wait "$pid" 2>/dev/null || st=$?
		if [ "$st" -gt 128 ]; then
			note "$name (pid $pid) died of signal $((st - 128)) ($(kill -l $((st - 128)) 2>/dev/null || echo '?'))"
		else
			note "$name (pid $pid) exited with status $st"
		fi
		case $name in amicd | bare) log=$tmp/$name.log ;; *) log=$tmp/webhook.log ;; esac
		note "last lines of its log:"
		tail -n 20 "$log" >&2 || true
		exit 1
	done
}

clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)

# cpu_ticks PID...: user+system time of the processes and their reaped children
cpu_ticks() {
	local pid t=0 v
	for pid in "$@"; do
		# fields after the ")" that ends comm: utime stime cutime cstime are 12..15
		v=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }') || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# Wait until the three servers are idle (at most 1 tick of CPU in 0.3 s), so work
# one of them deferred past the end of its run (webhook runs its commands
# asynchronously) does not land in the next target's figures. Up to 60 s.
settle() {
	local a b deadline=$((SECONDS + 60))
	b=$(cpu_ticks $amicd_pid $bare_pid $webhook_pid)
	while :; do
		sleep 0.3
		a=$b
		b=$(cpu_ticks $amicd_pid $bare_pid $webhook_pid)
		[ $((b - a)) -le 1 ] && return 0
		if [ "$SECONDS" -ge "$deadline" ]; then
			note "servers still busy 60 s after the run; going on"
			return 0
		fi
	done
}
# to_ms VALUE-WITH-UNIT (wrk prints us, ms, s, m, h)
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
		if (f < 0) { print "nan"; exit }
		printf "%.3f", n * f }'
}

perf_report=""
perf_s_used=0
results="$tmp/results"
: >"$results"
amicd_2xx=0
failed=0

run_one() { # run_one TARGET URL CONNECTIONS
	local target=$1 url=$2 c=$3 out=$tmp/wrk-$1-$3.txt wrk_pid rps p50 p99 reqs non2xx sockerr perf_s
	local pid=$4 cpu0 cpu1 t_end tail_s
	note "$target, $c connections ..."
	cpu0=$(cpu_ticks "$pid")
	wrk -t"$THREADS" -c"$c" -d"${BENCH_SECONDS}s" --latency -s "$tmp/post.lua" "$url" -- "$target-c$c" \
		>"$out" 2>&1 &
	wrk_pid=$!
	pids="$pids $wrk_pid"
	if [ "$BENCH_PERF" = 1 ] && [ "$target" = amicd ] && [ "$c" = 64 ]; then
		perf_s=$((BENCH_SECONDS > 6 ? 5 : BENCH_SECONDS - 1))
		if [ "$perf_s" -ge 1 ]; then
			sleep 1 # let the run warm up before sampling
			if perf record -q -g -o "$tmp/perf.data" -p "$amicd_pid" -- sleep "$perf_s" >"$tmp/perf.log" 2>&1 &&
				perf report -i "$tmp/perf.data" --stdio --no-children -g none --percent-limit 0.3 \
					>"$tmp/perf.txt" 2>>"$tmp/perf.log"; then
				perf_report=$tmp/perf.txt
				perf_s_used=$perf_s
			else
				note "perf failed (going on without a profile):"
				tail -n 5 "$tmp/perf.log" >&2 || true
			fi
		fi
	fi
	if ! wait "$wrk_pid"; then
		note "wrk failed against $target:"
		cat "$out" >&2
		check_alive
		exit 1
	fi
	pids=${pids% "$wrk_pid"}
	check_alive
	t_end=$SECONDS
	settle
	tail_s=$((SECONDS - t_end))
	[ "$tail_s" -ge 2 ] && note "$target was busy for ~${tail_s} s after wrk stopped (deferred work, counted in cpu us/req)"
	cpu1=$(cpu_ticks "$pid")
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	p50=$(awk '$1 == "50%" { print $2 }' "$out")
	p99=$(awk '$1 == "99%" { print $2 }' "$out")
	reqs=$(awk '/ requests in / { print $1 }' "$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
	sockerr=$(awk '/Socket errors:/ { sub(/.*Socket errors: /, ""); print }' "$out")
	non2xx=${non2xx:-0}
	if [ -z "$rps" ] || [ -z "$p50" ] || [ -z "$p99" ] || [ -z "$reqs" ]; then
		note "cannot read wrk's output for $target:"
		cat "$out" >&2
		exit 1
	fi
	p50=$(to_ms "$p50")
	p99=$(to_ms "$p99")
	printf '%s %s %s %s %s %s %s %s\n' "$target" "$c" "$rps" "$p50" "$p99" "$reqs" "$non2xx" \
		"$(awk -v t=$((cpu1 - cpu0)) -v hz="$clk_tck" -v n="$reqs" 'BEGIN { printf "%.1f", (n > 0) ? t / hz * 1e6 / n : 0 }')" \
		>>"$results"
	if [ -n "$sockerr" ]; then
		note "$target c=$c socket errors: $sockerr"
	fi
	if [ "$target" = amicd ]; then
		amicd_2xx=$((amicd_2xx + reqs - non2xx))
		if [ "$non2xx" != 0 ]; then
			note "amicd answered $non2xx non-2xx responses at $c connections"
			failed=1
		fi
	fi
}

settle
for c in $CONNECTIONS; do
	run_one bare "$url_bare" "$c" "$bare_pid"
	run_one webhook "$url_webhook" "$c" "$webhook_pid"
	run_one amicd "$url_amicd" "$c" "$amicd_pid"
done

hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$amicd_pid/status" 2>/dev/null || echo 0)
rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$amicd_pid/status" 2>/dev/null || echo 0)
events_after=$(last_event_id) || die "amicd: GET /api/v1/events failed after the runs"
events_stored=$((events_after - events_before))

# --- report ---------------------------------------------------------------------------
echo
echo "amicd bench: wrk -t$THREADS -d${BENCH_SECONDS}s, POST $(wc -c <"$BODY")-byte GitLab push, $(nproc) CPUs"
echo
awk '
	BEGIN { printf "%-8s %5s %11s %9s %9s %9s %8s %12s\n", "target", "conns", "req/s", "p50 ms", "p99 ms", "requests", "non-2xx", "cpu us/req" }
	{ printf "%-8s %5d %11.1f %9.3f %9.3f %9d %8d %12.1f\n", $1, $2, $3, $4, $5, $6, $7, $8 }
' "$results"
echo
awk '
	{ rps[$1, $2] = $3; p99[$1, $2] = $5; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
	function ratio(a, b) { return (b > 0) ? sprintf("%.2f", a / b) : "n/a" }
	END {
		printf "%5s %16s %19s %19s\n", "conns", "amicd/bare req/s", "amicd/webhook req/s", "amicd/bare p99"
		for (i = 1; i <= n; i++) {
			c = order[i]
			printf "%5d %16s %19s %19s\n", c, ratio(rps["amicd", c], rps["bare", c]),
				ratio(rps["amicd", c], rps["webhook", c]), ratio(p99["amicd", c], p99["bare", c])
		}
	}
' "$results"
echo
awk -v h="$hwm_kb" -v r="$rss_kb" 'BEGIN { printf "amicd peak RSS (VmHWM): %.1f MiB (VmRSS now %.1f MiB)\n", h / 1024, r / 1024 }'
echo "amicd events stored during the runs: $events_stored (ids $((events_before + 1))..$events_after); 2xx responses wrk counted: $amicd_2xx"
if [ "$events_stored" -lt "$amicd_2xx" ]; then
	echo "  MISMATCH: fewer rows than 2xx answers"
	failed=1
elif [ "$events_stored" -gt "$amicd_2xx" ]; then
	echo "  ($((events_stored - amicd_2xx)) more rows than counted answers: requests in flight when wrk stopped its clock)"
fi
warn_lines=$(grep -c '"level":"\(warn\|error\)"' "$tmp/amicd.log" || true)
echo "amicd log: $(wc -l <"$tmp/amicd.log") lines, $(wc -c <"$tmp/amicd.log") bytes, ${warn_lines:-0} warn/error"
if [ "${warn_lines:-0}" -gt 0 ]; then
	grep '"level":"\(warn\|error\)"' "$tmp/amicd.log" |
		sed 's/"ts":"[^"]*",//' | sort | uniq -c | sort -rn | awk 'NR <= 10 { print "  " $0 }'
fi

if [ -n "$perf_report" ]; then
	echo
	echo "perf (amicd, 64 connections, ${perf_s_used}s; perf report --stdio --no-children -g none), top lines:"
	awk '!/^#/ && !/^[[:space:]]*$/ && n < 25 { print; n++ }' "$perf_report"
fi

if [ "$failed" != 0 ]; then
	note "FAILED (see above)"
	exit 1
fi
exit 0
