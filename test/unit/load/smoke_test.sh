#!/usr/bin/env bash
# Smoke run of huddle-load against huddle: 2 groups x 5 clients for ~3 s on loopback.
# Passes when something was delivered and nothing was lost. Usage: smoke_test.sh HUDDLE HUDDLE_LOAD
set -euo pipefail

huddle=${1:?path to huddle}
load=${2:?path to huddle-load}
work=$(mktemp -d)
server_pid=""

cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$huddle" serve --address 127.0.0.1 --port 0 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!

# The server prints "listening on 127.0.0.1:PORT" once bound.
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$work/server.out" | head -n1)
  [[ -n "$port" ]] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "smoke: huddle exited before listening:" >&2
    cat "$work/server.out" "$work/server.err" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ -z "$port" ]]; then
  echo "smoke: no 'listening on' line from huddle within 10 s" >&2
  cat "$work/server.out" "$work/server.err" >&2
  exit 1
fi

# Bounded: 0.5 s warm-up + 2 s measured + 2 s drain (generous: CI runs this under
# sanitizers beside other tests), plus connect and close.
"$load" --url "ws://127.0.0.1:$port/ws/{group}" --groups 2 --clients 5 --senders 2 \
  --window 4 --size 64 --warmup 500ms --duration 2s --drain 2s --quiet --json \
  >"$work/result.json"

# The JSON is one flat-enough object: pull the counters with sed, no jq needed.
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" "$work/result.json"; }
connected=$(field connected)
delivered=$(field delivered)
lost=$(field lost)
failed=$(field failed_connects)
echo "smoke: connected=$connected failed_connects=$failed delivered=$delivered lost=$lost"
status=0
[[ "$connected" == 10 ]] || { echo "smoke: expected 10 connected" >&2; status=1; }
[[ "$failed" == 0 ]] || { echo "smoke: failed connects" >&2; status=1; }
[[ "${delivered%%.*}" -gt 0 ]] || { echo "smoke: nothing delivered" >&2; status=1; }
[[ "$lost" == 0 ]] || { echo "smoke: messages lost" >&2; status=1; }
if ((status != 0)); then
  cat "$work/result.json" >&2
  tail -n 20 "$work/server.err" >&2
fi
exit "$status"
