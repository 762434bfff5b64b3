#!/usr/bin/env bash
# bench.sh compares examples/kv with redis-server under redis-benchmark:
# SET and GET, 50 clients, without pipelining (-P 1) and with (-P 16).
# Runs alternate between the two servers (and their order alternates from
# one round to the next) so that drift in the machine's load hits both;
# the table shows the medians of the rounds: requests per second, the
# server's CPU time per request (user + system, from /proc), which still
# compares the servers when the single-threaded redis-benchmark is the
# bottleneck, and how many cores redis-benchmark kept busy (1.00: all of
# one, its limit).
#
#   examples/kv/bench.sh                  # 3 rounds of 1,000,000 requests
#   RUNS=5 N=200000 examples/kv/bench.sh
#   KV_LOOPS=1 examples/kv/bench.sh       # kv's event loops (default: GOMAXPROCS)
#   BENCH_ARGS="--threads 2" examples/kv/bench.sh   # more redis-benchmark options
#
# Linux only. Needs go, redis-server, redis-cli and redis-benchmark (apt:
# redis-server redis-tools).
set -euo pipefail

RUNS=${RUNS:-3}
N=${N:-1000000}
CLIENTS=${CLIENTS:-50}
KV_LOOPS=${KV_LOOPS:-0}
BENCH_ARGS=${BENCH_ARGS:-}
KV_PORT=${KV_PORT:-16380}
REDIS_PORT=${REDIS_PORT:-16379}

for tool in go redis-server redis-benchmark redis-cli; do
	command -v "$tool" >/dev/null || { echo "bench.sh: $tool not found" >&2; exit 1; }
done

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$here" && go build -o "$work/kv" .)
"$work/kv" -addr "127.0.0.1:$KV_PORT" -loops "$KV_LOOPS" -admin 127.0.0.1:0 2>"$work/kv.log" &
kv_pid=$!
pids+=("$kv_pid")
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
	--databases 1 --dir "$work" --logfile "$work/redis.log" &
redis_pid=$!
pids+=("$redis_pid")
for port in "$KV_PORT" "$REDIS_PORT"; do
	for _ in $(seq 100); do
		[ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
		sleep 0.1
	done
done

tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run NAME PID PORT PIPELINE TEST appends "name pipeline test rps cpu-µs/op
# client-cores": the server's CPU time per request, and the CPU time of
# redis-benchmark over the run's wall time (1.00: one core kept busy).
run() {
	local before after rps client
	before=$(cpu_ticks "$2")
	client=$( { TIMEFORMAT='%U %S %R'; time redis-benchmark -p "$3" -c "$CLIENTS" -n "$N" -t "$5" -P "$4" $BENCH_ARGS --csv >"$work/out"; } 2>&1)
	after=$(cpu_ticks "$2")
	rps=$(awk -F'"' 'NR == 2 { print $4 }' "$work/out")
	echo "$1 $4 ${5^^} $rps $(awk -v d=$((after - before)) -v t="$tck" -v n="$N" -v c="$client" \
		'BEGIN { split(c, x, " "); printf "%.3f %.2f", d / t / n * 1e6, (x[1] + x[2]) / x[3] }')" |
		tee -a "$work/results" >&2
}

echo "redis-benchmark -c $CLIENTS -n $N -t {set,get} -P {1,16} ${BENCH_ARGS:+$BENCH_ARGS }--csv; $RUNS rounds; $(nproc) cores, shared by the servers and the client"
echo "kv loops: $KV_LOOPS (0: GOMAXPROCS); $(redis-server --version | cut -d' ' -f1-3)"
for round in $(seq "$RUNS"); do
	for p in 1 16; do
		for t in set get; do
			if [ $((round % 2)) -eq 1 ]; then
				run kv "$kv_pid" "$KV_PORT" "$p" "$t"
				run redis "$redis_pid" "$REDIS_PORT" "$p" "$t"
			else
				run redis "$redis_pid" "$REDIS_PORT" "$p" "$t"
				run kv "$kv_pid" "$KV_PORT" "$p" "$t"
			fi
		done
	done
done

awk '
function median(key, col,    n, i, j, t, v) {
	n = count[key]
	for (i = 1; i <= n; i++) v[i] = vals[key, i, col]
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{ key = $1 SUBSEP $2 SUBSEP $3; c = ++count[key]; vals[key, c, 1] = $4; vals[key, c, 2] = $5; vals[key, c, 3] = $6 }
END {
	print "| test | pipeline | kv ops/s | redis-server ops/s | kv / redis | kv CPU µs/op | redis-server CPU µs/op | kv / redis CPU | client cores (kv, redis) |"
	print "|------|---------:|---------:|-------------------:|-----------:|-------------:|-----------------------:|---------------:|-------------------------:|"
	for (pi = 1; pi <= 2; pi++) {
		p = pi == 1 ? 1 : 16
		for (ti = 1; ti <= 2; ti++) {
			t = ti == 1 ? "SET" : "GET"
			k = "kv" SUBSEP p SUBSEP t; r = "redis" SUBSEP p SUBSEP t
			printf "| %s | %d | %.0f | %.0f | %.2fx | %.2f | %.2f | %.2fx | %.2f, %.2f |\n", t, p,
				median(k, 1), median(r, 1), median(k, 1) / median(r, 1),
				median(k, 2), median(r, 2), median(k, 2) / median(r, 2),
				median(k, 3), median(r, 3)
			if (median(k, 3) < 0.9 || median(r, 3) < 0.9) starved = 1
		}
	}
	if (starved)
		print "\nredis-benchmark had less than 0.9 of a core in some rows: other work took the CPU, and their ratios are noise."
}' "$work/results"
