# Shared by scripts/loadtest and scripts/bench: packages, release build, starting and
# stopping a server by PID, and measuring it (CPU from /proc/PID/stat, RSS from status).
# Sourced, not run. Everything stays on loopback and every wait is bounded.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_LIB="$BENCH_ROOT/bench/lib"
BUILD_DIR=${BUILD_DIR:-$BENCH_ROOT/build-release}
CLK_TCK=$(getconf CLK_TCK)
apt_updated=0

log() { printf '%s\n' "$*" >&2; }

# Installs the Debian packages that are missing (needs root or sudo).
ensure_packages() {
  local missing=() p status
  for p in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing ${missing[*]}"
  local sudo=""
  ((EUID != 0)) && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  if ((apt_updated == 0)); then
    $sudo apt-get update -qq
    apt_updated=1
  fi
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Release build of the two binaries a benchmark needs (not the tests: faster, and a
# half-written test elsewhere in the tree cannot stop a benchmark).
build_release() {
  if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
    meson setup "$BUILD_DIR" "$BENCH_ROOT" --buildtype=release >/dev/null
  fi
  ninja -C "$BUILD_DIR" -j"${BUILD_JOBS:-2}" src/app/huddle src/load/huddle-load >/dev/null
  HUDDLE="$BUILD_DIR/src/app/huddle"
  HUDDLE_LOAD="$BUILD_DIR/src/load/huddle-load"
}

# Raise the open-file limit for this shell and its children: every client is a socket.
# Root may lift the hard limit too (100,000 idle connections need more than the usual 20k).
raise_file_limit() {
  ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

# The processes that make up the server under test, measured together: one huddle, or
# several huddle nodes and the redis-server they share. SERVER_PID/SERVER_PORT are the
# last one started; SERVER_PORTS are the WebSocket ports the load spreads over.
SERVER_PID=""
SERVER_PORT=""
SERVER_PIDS=()
SERVER_KINDS=() # per PID: what it is (huddle, redis-server), for the CPU breakdown
SERVER_PORTS=()
REDIS_PORT=""

# listen_port PID — the IPv4 TCP port PID listens on (its first), or nothing: its socket
# inodes (/proc/PID/fd) matched against the LISTEN (0A) rows of /proc/PID/net/tcp.
listen_port() {
  local fd target inodes=" " local_addr state inode
  for fd in /proc/"$1"/fd/*; do
    target=$(readlink "$fd" 2>/dev/null) || continue
    [[ "$target" == socket:\[*\] ]] && inodes+="${target//[^0-9]/} "
  done
  # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
  while read -r _ local_addr _ state _ _ _ _ _ inode _; do
    if [[ "$state" == 0A && "$inodes" == *" $inode "* ]]; then
      echo $((16#${local_addr#*:}))
      return
    fi
  done 2>/dev/null <"/proc/$1/net/tcp" # gone: nothing
  return 0
}

# start_server [--port-from-proc] LOGPREFIX CMD... — runs CMD, waits (10 s at most) for
# "listening on H:P". With --port-from-proc, for a server that prints nothing (uws_group
# on port 0), it waits instead for the server's listening socket and takes its port.
# May be called several times for one server under test (the nodes of a cluster).
start_server() {
  local from_proc=0
  [[ "$1" == --port-from-proc ]] && { from_proc=1; shift; }
  local prefix=$1
  shift
  "$@" >"$prefix.stdout" 2>"$prefix.stderr" &
  SERVER_PID=$!
  SERVER_PIDS+=("$SERVER_PID")
  SERVER_KINDS+=(huddle)
  SERVER_PORT=""
  local i
  # The file appears when the child has opened it, maybe after the first look.
  for i in $(seq 1 100); do
    if ((from_proc)); then
      SERVER_PORT=$(listen_port "$SERVER_PID")
    else
      SERVER_PORT=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)[[:space:]]*$/\1/p' "$prefix.stdout" 2>/dev/null | head -n1)
    fi
    if [[ -n "$SERVER_PORT" ]]; then
      SERVER_PORTS+=("$SERVER_PORT")
      return 0
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "server exited before listening: $*"
      tail -n 20 "$prefix.stderr" >&2
      return 1
    fi
    sleep 0.1
  done
  log "server did not start listening within 10 s: $*"
  stop_server
  return 1
}

# start_redis DIR — a redis-server for one run, on a free loopback port (REDIS_PORT), its
# files in DIR. No RDB snapshots and no AOF (`--save "" --appendonly no`): a benchmark
# measures the message path, not Redis's disk, and each run gets a fresh, empty server.
start_redis() {
  local dir=$1 attempt i
  mkdir -p "$dir"
  for attempt in 1 2 3 4 5; do # another process may take the port between probe and bind
    REDIS_PORT=$(/usr/bin/python3 "$BENCH_LIB/cluster.py" free-port)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$dir" --logfile "$dir/redis.log" --maxmemory-policy noeviction &
    SERVER_PID=$!
    for i in $(seq 1 100); do
      if [[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; then
        SERVER_PIDS+=("$SERVER_PID")
        SERVER_KINDS+=(redis-server)
        return 0
      fi
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  done
  log "redis-server did not start; $dir/redis.log:"
  tail -n 20 "$dir/redis.log" >&2 || true
  SERVER_PID=""
  return 1
}

# stop_one PID — SIGTERM, 5 s to go, then SIGKILL; only ever a PID we started.
stop_one() {
  if kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do
      kill -0 "$1" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
  fi
  wait "$1" 2>/dev/null || true
}

# Stops every process of the server under test, the last started first (nodes before the
# Redis they use).
stop_server() {
  local i
  for ((i = ${#SERVER_PIDS[@]} - 1; i >= 0; --i)); do
    stop_one "${SERVER_PIDS[i]}"
  done
  # A start that failed before its PID was recorded.
  [[ -n "$SERVER_PID" ]] && stop_one "$SERVER_PID"
  SERVER_PID=""
  SERVER_PORT=""
  SERVER_PIDS=()
  SERVER_KINDS=()
  SERVER_PORTS=()
  REDIS_PORT=""
}

# utime+stime of a process in seconds (fields 14 and 15, counted after the ")" of comm).
proc_cpu_s() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  awk -v u="${12}" -v s="${13}" -v hz="$CLK_TCK" 'BEGIN { printf "%.3f", (u + s) / hz }'
}

proc_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# The sum over the server's processes.
server_rss_kb() {
  local pid total=0
  for pid in "${SERVER_PIDS[@]}"; do total=$((total + $(proc_rss_kb "$pid"))); done
  echo "$total"
}

# "KIND=SECONDS ..." per process, in SERVER_PIDS order.
server_cpu_parts() {
  local i out=()
  for i in "${!SERVER_PIDS[@]}"; do
    out+=("${SERVER_KINDS[i]}=$(proc_cpu_s "${SERVER_PIDS[i]}")")
  done
  echo "${out[*]}"
}

# The syscalls that put bytes on a socket, one counter each (SEND_CALLS=1, `perf stat` on
# their tracepoints): Asio sends with sendmsg, uSockets with sendto (send) and writev,
# Node with writev and write. write also counts writes to files and pipes.
SEND_CALL_EVENTS=syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto,syscalls:sys_enter_writev,syscalls:sys_enter_write

# The loopback interface's transmitted bytes, or nothing where there is no such counter.
# Every packet between two local sockets passes it once, so this counts both directions
# (client to server and back), TCP/IP headers and pure ACKs included, of every process in
# this network namespace.
loopback_tx_bytes() { cat /sys/class/net/lo/statistics/tx_bytes 2>/dev/null || true; }

# server_bytes_written SCHEME — the sum of huddle_bytes_written_total over SERVER_PORTS'
# /metrics (a huddle, or the nodes of a redisN), or nothing when one does not answer.
server_bytes_written() {
  local port urls=() ca=()
  for port in "${SERVER_PORTS[@]}"; do urls+=("$1://127.0.0.1:$port/metrics"); done
  [[ "$1" == https ]] && ca=(--ca-file "$TLS_DIR/ca.pem")
  /usr/bin/python3 "$BENCH_LIB/metrics.py" sum huddle_bytes_written_total "${urls[@]}" "${ca[@]}" \
    2>/dev/null || true
}

# run_load OUT.json SERVER_NAME [--metrics] -- huddle-load args...
# Measures the server (every process in SERVER_PIDS: CPU summed, RSS summed; with
# SEND_CALLS=1 its send calls too) around one huddle-load run and writes one record. The
# clients are spread over SERVER_PORTS. Bytes on the wire: the loopback interface's, and
# with --metrics (a huddle: it has GET /metrics) the bytes the server wrote to its
# WebSocket clients, read from huddle_bytes_written_total before and after.
# A SERVER_NAME ending in -tls is reached with wss (TLS_DIR's CA), one ending in -deflate
# with huddle-load --deflate.
run_load() {
  local out=$1 name=$2 metrics=0
  shift 2
  [[ "$1" == --metrics ]] && { metrics=1; shift; }
  shift # --
  local parts0 parts1 rss0 rss_end sampler_pid rss_file="$out.rss" port urls=()
  local perf_pid="" perf_file="$out.perf"
  local scheme=ws metrics_scheme=http written0="" written1="" lo0 lo1
  if [[ "$name" == *-tls ]]; then # TLS_DIR: scripts/bench's certificates for the run
    scheme=wss
    metrics_scheme=https
    urls+=(--ca-file "$TLS_DIR/ca.pem")
  fi
  [[ "$name" == *-deflate ]] && urls+=(--deflate)
  for port in "${SERVER_PORTS[@]}"; do urls+=(--url "$scheme://127.0.0.1:$port/ws/{group}"); done
  sleep 0.5  # let the server finish starting before taking its baseline
  # Outside the CPU window: a scrape is not the load's work.
  ((metrics)) && written0=$(server_bytes_written "$metrics_scheme")
  lo0=$(loopback_tx_bytes)
  parts0=$(server_cpu_parts)
  rss0=$(server_rss_kb)
  ( while kill -0 "${SERVER_PIDS[0]}" 2>/dev/null; do server_rss_kb; sleep 0.25; done ) \
    >"$rss_file" 2>/dev/null &
  sampler_pid=$!
  if [[ -n "${SEND_CALLS:-}" ]]; then
    perf stat -x, -o "$perf_file" -e "$SEND_CALL_EVENTS" \
      -p "$(IFS=,; echo "${SERVER_PIDS[*]}")" 2>"$perf_file.stderr" &
    perf_pid=$!
  fi
  local rc=0
  "$HUDDLE_LOAD" "${urls[@]}" --json --quiet "$@" \
    >"$out.load" 2>"$out.load.stderr" || rc=$?
  parts1=$(server_cpu_parts)
  lo1=$(loopback_tx_bytes)
  ((metrics)) && written1=$(server_bytes_written "$metrics_scheme")
  if [[ -n "$perf_pid" ]]; then
    kill -INT "$perf_pid" 2>/dev/null || true # perf stat writes its counts on SIGINT
    wait "$perf_pid" 2>/dev/null || true
    [[ -s "$perf_file.stderr" ]] && log "perf stat against $name: $(tail -n 3 "$perf_file.stderr")"
    rm -f "$perf_file.stderr"
  fi
  sleep 1  # the server frees what the departed clients held
  rss_end=$(server_rss_kb)
  kill "$sampler_pid" 2>/dev/null || true
  wait "$sampler_pid" 2>/dev/null || true
  if ((rc != 0)) || [[ ! -s "$out.load" ]]; then
    log "huddle-load failed ($rc) against $name: $(tail -n 3 "$out.load.stderr")"
    return 1
  fi
  /usr/bin/python3 "$BENCH_LIB/summarize.py" record --load "$out.load" --server "$name" \
    --cpu-parts0 "$parts0" --cpu-parts1 "$parts1" --rss0 "$rss0" --rss-end "$rss_end" \
    --rss-samples "$rss_file" --send-calls "$perf_file" \
    --bytes-written0 "$written0" --bytes-written1 "$written1" --lo-bytes0 "$lo0" \
    --lo-bytes1 "$lo1" --args "$*" --out "$out"
  rm -f "$out.load" "$rss_file" "$perf_file"
  [[ -s "$out.load.stderr" ]] || rm -f "$out.load.stderr"
}

# Arguments for a scenario; SCENARIO_DURATION / IDLE_CONNECTIONS adjust them, and
# LOAD_ARGS (words split on blanks, e.g. "--payload json --size 600") is added last.
scenario_args() {
  local scenario=$1
  local args=(--scenario "$scenario")
  [[ -n "${SCENARIO_DURATION:-}" ]] && args+=(--duration "$SCENARIO_DURATION")
  if [[ "$scenario" == idle && -n "${IDLE_CONNECTIONS:-}" ]]; then
    local groups=100
    args+=(--groups "$groups" --clients $(((IDLE_CONNECTIONS + groups - 1) / groups)))
    # Each source address brings its own ~28k ephemeral ports.
    ((IDLE_CONNECTIONS > 25000)) && args+=(--source-addresses $((IDLE_CONNECTIONS / 20000 + 1)))
  fi
  [[ -n "${LOAD_THREADS:-}" ]] && args+=(--threads "$LOAD_THREADS")
  [[ -n "${CONNECT_RATE:-}" ]] && args+=(--connect-rate "$CONNECT_RATE")
  if [[ -n "${LOAD_ARGS:-}" ]]; then
    local extra
    read -r -a extra <<<"$LOAD_ARGS"
    args+=("${extra[@]}")
  fi
  printf '%s\n' "${args[@]}"
}
