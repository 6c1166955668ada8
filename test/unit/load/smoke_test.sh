#!/usr/bin/env bash
# Smoke runs of huddle-load against huddle, 2 groups x 5 clients on loopback:
#  1. ~3 s steady: something delivered, nothing lost;
#  2. ~4 s with --drop-every 1: every client drops its TCP connection (no close frame)
#     once a second and reconnects with ?since=; still nothing lost, nothing twice;
#  3. under 1 s, two endpoints (huddle, and a loopback port nobody listens on): client i
#     goes to endpoint i mod 2, so exactly half connect and half are refused;
#  4. ~3 s each, --payload json --deflate against this huddle (no --deflate: none accepted)
#     and against a second one with --deflate (all accepted, nothing lost).
# Usage: smoke_test.sh HUDDLE HUDDLE_LOAD
set -euo pipefail

huddle=${1:?path to huddle}
load=${2:?path to huddle-load}
work=$(mktemp -d)
server_pids=()

cleanup() {
  local pid
  for pid in "${server_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

# A fresh history file, not huddle.db in the build directory; no accounts (--auth none)
# where the server has them, so anonymous clients may join.
serve_args=(serve --address 127.0.0.1 --port 0)
serve_help=$("$huddle" serve --help 2>&1 || true)
db_option=0
if grep -q -- '--db' <<<"$serve_help"; then db_option=1; fi
if grep -q -- '--auth' <<<"$serve_help"; then serve_args+=(--auth none); fi
# The load tool floods from one address: no abuse limits (per-connection rate, per address).
if grep -q -- '--message-rate' <<<"$serve_help"; then
  serve_args+=(--message-rate 0 --max-connections-per-address 0 --upgrade-rate-per-address 0)
fi
# start_huddle NAME [serve options...] — a huddle with its output (and history) in
# $work/NAME.*; its port in `port`.
start_huddle() {
  local name=$1 pid
  shift
  ((db_option)) && set -- --db "$work/$name.db" "$@"
  # Created here: the background server opens its redirection only once it is scheduled,
  # and the first sed below may come before (seen on a loaded machine: "can't read ...").
  : >"$work/$name.out"
  "$huddle" "${serve_args[@]}" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pid=$!
  server_pids+=("$pid")
  # The server prints "listening on 127.0.0.1:PORT" once bound.
  port=""
  for _ in $(seq 1 100); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$work/$name.out" | head -n1)
    [[ -n "$port" ]] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "smoke: huddle ($name) exited before listening:" >&2
      cat "$work/$name.out" "$work/$name.err" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "smoke: no 'listening on' line from huddle ($name) within 10 s" >&2
  cat "$work/$name.out" "$work/$name.err" >&2
  exit 1
}
start_huddle server

# The JSON is one flat-enough object: pull the counters with sed, no jq needed.
field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1"; }
status=0
fail() {
  echo "smoke: $1" >&2
  status=1
}

# Run 1, bounded: 0.5 s warm-up + 2 s measured + 2 s drain (generous: CI runs this under
# sanitizers beside other tests), plus connect and close.
steady=$work/steady.json
"$load" --url "ws://127.0.0.1:$port/ws/{group}" --groups 2 --clients 5 --senders 2 \
  --window 4 --size 64 --warmup 500ms --duration 2s --drain 2s --quiet --json >"$steady"
connected=$(field "$steady" connected)
delivered=$(field "$steady" delivered)
lost=$(field "$steady" lost)
failed=$(field "$steady" failed_connects)
echo "smoke: connected=$connected failed_connects=$failed delivered=$delivered lost=$lost"
[[ "$connected" == 10 ]] || fail "expected 10 connected"
[[ "$failed" == 0 ]] || fail "failed connects"
[[ "${delivered%%.*}" -gt 0 ]] || fail "nothing delivered"
[[ "$lost" == 0 ]] || fail "messages lost"
((status == 0)) || cat "$steady" >&2

# Run 2: 3 s measured with a drop a second per client, in other groups (a history of
# their own). Open loop, so senders keep sending while members are away.
drops=$work/drops.json
"$load" --url "ws://127.0.0.1:$port/ws/{group}" --groups 2 --group-base 101 --clients 5 \
  --senders 2 --rate 200 --size 64 --warmup 500ms --duration 3s --drain 2s \
  --drop-every 1 --quiet --json >"$drops"
connected=$(field "$drops" connected)
sent=$(field "$drops" sent)
delivered=$(field "$drops" delivered)
lost=$(field "$drops" lost)
duplicates=$(field "$drops" duplicates)
reconnects=$(field "$drops" reconnects)
echo "smoke --drop-every 1: connected=$connected sent=$sent delivered=$delivered" \
  "lost=$lost duplicates=$duplicates reconnects=$reconnects"
before=$status
[[ "$connected" == 10 ]] || fail "drops: expected 10 connected"
[[ "${delivered%%.*}" -gt 0 ]] || fail "drops: nothing delivered"
[[ "$lost" == 0 ]] || fail "drops: messages lost across reconnects"
[[ "$duplicates" == 0 ]] || fail "drops: messages delivered twice"
[[ "${reconnects:-0}" -gt 0 ]] || fail "drops: no reconnects"
((status == before)) || cat "$drops" >&2

# Run 3: --url given as a comma-separated list of two endpoints, the second refused.
closed_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
spread=$work/spread.json
"$load" --url "ws://127.0.0.1:$port/ws/{group},ws://127.0.0.1:$closed_port/ws/{group}" \
  --groups 2 --group-base 201 --clients 5 --idle --duration 300ms --quiet --json >"$spread"
connected=$(field "$spread" connected)
failed=$(field "$spread" failed_connects)
echo "smoke two endpoints: connected=$connected failed_connects=$failed"
before=$status
[[ "$connected" == 5 ]] || fail "two endpoints: expected 5 of 10 connected (clients 0, 2, 4, ...)"
[[ "$failed" == 5 ]] || fail "two endpoints: expected 5 refused (clients 1, 3, 5, ...)"
((status == before)) || cat "$spread" >&2

# Run 4: realistic JSON messages, deflate offered. This huddle runs without --deflate, so
# it accepts none; one started with --deflate accepts it on every connection, and the
# compressed messages both ways lose nothing.
deflate_field() { sed -n 's/.*"deflate":{[^}]*"accepted":\([0-9]*\).*/\1/p' "$1"; }
declined=$work/declined.json
"$load" --url "ws://127.0.0.1:$port/ws/{group}" --groups 2 --group-base 301 --clients 5 \
  --senders 2 --rate 50 --payload json --size 600 --deflate --warmup 200ms --duration 1s \
  --drain 1s --quiet --json >"$declined"
echo "smoke --deflate, server without: connects=$(field "$declined" connects)" \
  "accepted=$(deflate_field "$declined") lost=$(field "$declined" lost)"
before=$status
[[ "$(field "$declined" connects)" == 10 ]] || fail "deflate declined: expected 10 connects"
[[ "$(deflate_field "$declined")" == 0 ]] || fail "deflate accepted by a server without --deflate"
[[ "$(field "$declined" lost)" == 0 ]] || fail "deflate declined: messages lost"
((status == before)) || cat "$declined" >&2

start_huddle deflate --deflate
accepted=$work/accepted.json
"$load" --url "ws://127.0.0.1:$port/ws/{group}" --groups 2 --clients 5 --senders 2 \
  --window 4 --payload json --size 600 --deflate --warmup 500ms --duration 2s --drain 2s \
  --quiet --json >"$accepted"
delivered=$(field "$accepted" delivered)
echo "smoke --deflate, server with: connects=$(field "$accepted" connects)" \
  "accepted=$(deflate_field "$accepted") delivered=$delivered lost=$(field "$accepted" lost)"
before=$status
[[ "$(field "$accepted" connects)" == 10 ]] || fail "deflate: expected 10 connects"
[[ "$(deflate_field "$accepted")" == 10 ]] || fail "deflate: expected it accepted on all 10"
[[ "${delivered%%.*}" -gt 0 ]] || fail "deflate: nothing delivered"
[[ "$(field "$accepted" lost)" == 0 ]] || fail "deflate: messages lost"
[[ "$(field "$accepted" error_total)" == 0 ]] || fail "deflate: errors"
((status == before)) || cat "$accepted" >&2

((status == 0)) || tail -n 20 "$work/server.err" "$work/deflate.err" >&2
exit "$status"
