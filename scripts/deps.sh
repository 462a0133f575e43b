#!/bin/sh
# deps.sh — install the Debian 12 packages amicd needs to build, test and benchmark.
#
# Idempotent: checks with pkg-config/command -v first and only calls apt-get for
# what is missing, so `make` on a prepared machine costs nothing. Needs root to
# install; without root it names the missing packages and exits 1. Never asks:
# apt-get runs non-interactively with no stdin, so it also serves CI.
#
# usage: scripts/deps.sh [bootstrap|build|test|bench|fuzz]
#   bootstrap: what make itself needs (make, a C compiler with the C library's
#   headers, pkg-config), for a fresh machine before the first make; every
#   other level includes it. bench and fuzz include test, test includes build.
set -eu

level=${1:-build}

missing=""
need_pc() {   # need_pc PKGCONFIG-NAME DEBIAN-PACKAGE
	if ! pkg-config --exists "$1" 2>/dev/null; then missing="$missing $2"; fi
}
need_cmd() { # need_cmd COMMAND DEBIAN-PACKAGE
	if ! command -v "$1" >/dev/null 2>&1; then missing="$missing $2"; fi
}
need_file() { # need_file PATH DEBIAN-PACKAGE
	if [ ! -e "$1" ]; then missing="$missing $2"; fi
}

need_cmd cc gcc
need_file /usr/include/stdio.h libc6-dev # gcc only recommends it
need_cmd make make
need_cmd pkg-config pkg-config
case $level in
bootstrap) ;;
*)
	if command -v pkg-config >/dev/null 2>&1; then
		need_pc libmicrohttpd libmicrohttpd-dev
		need_pc libcurl libcurl4-openssl-dev
		need_pc openssl libssl-dev
		need_pc jansson libjansson-dev
		need_pc yaml-0.1 libyaml-dev
		need_pc sqlite3 libsqlite3-dev
		need_pc expat libexpat1-dev
	else
		missing="$missing libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libjansson-dev libyaml-dev libsqlite3-dev libexpat1-dev"
	fi
	;;
esac
case $level in
test|bench|fuzz)
	if command -v pkg-config >/dev/null 2>&1; then need_pc cmocka libcmocka-dev; else missing="$missing libcmocka-dev"; fi
	need_cmd promtool prometheus   # /metrics must pass `promtool check metrics`
	;;
esac
case $level in
bench)
	need_cmd wrk wrk
	need_cmd webhook webhook
	need_cmd curl curl
	need_cmd ss iproute2
	need_cmd python3 python3-minimal
	;;
esac

case $level in
fuzz)
	need_cmd clang clang
	# libFuzzer's runtime (-fsanitize=fuzzer) is in clang's runtime library package
	if ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 &&
	   ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1; then
		missing="$missing libclang-rt-dev"
	fi
	;;
esac

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "amicd: missing packages:$missing" >&2
	echo "amicd: run 'sudo scripts/deps.sh $level' (or install them with apt-get) and try again." >&2
	exit 1
fi

echo "amicd: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Retry once: a stale or (on a fresh image) empty package list is the usual
# cause of a first failure, so that one is not shown.
# shellcheck disable=SC2086
if ! apt-get install -y -q --no-install-recommends $missing </dev/null >/dev/null 2>&1; then
	apt-get update -q </dev/null >/dev/null
	apt-get install -y -q --no-install-recommends $missing </dev/null >/dev/null
fi
