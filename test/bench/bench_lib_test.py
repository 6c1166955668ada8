#!/usr/bin/python3
"""Checks of scripts/bench's helpers without a server: bench/lib/metrics.py reads a
counter from an exposition, summarize.py turns byte counters into bytes per delivery and
summarizes them, and scenario_args adds --load-args. Plain Python 3 and bash.

Usage: bench_lib_test.py REPO_ROOT
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = sys.argv[1]
LIB = os.path.join(ROOT, "bench", "lib")
sys.path.insert(0, LIB)
import metrics  # noqa: E402

failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


# 1. metric_sum: samples with and without labels, not another metric's nor a comment.
EXPOSITION = """# HELP huddle_bytes_written_total Bytes written to WebSocket clients
# TYPE huddle_bytes_written_total counter
huddle_bytes_written_total 1234
huddle_bytes_written_total_other 99
huddle_bytes_written_total{thread="1"} 6 1700000000000
huddle_frames_written_total 7
"""
check(metrics.metric_sum(EXPOSITION, "huddle_bytes_written_total") == 1240.0,
      "metric_sum adds the samples of one metric, labelled or not, and no other")
check(metrics.metric_sum(EXPOSITION, "huddle_missing_total") is None,
      "metric_sum says when a metric is absent")


def record(work, name, load, **counters):
    load_path = os.path.join(work, name + ".load")
    with open(load_path, "w") as f:
        json.dump(load, f)
    out = os.path.join(work, "runs", name + ".json")
    args = ["/usr/bin/python3", os.path.join(LIB, "summarize.py"), "record",
            "--load", load_path, "--server", load["server"], "--cpu-parts0", "huddle=1.0",
            "--cpu-parts1", "huddle=3.0", "--rss0", "1000", "--rss-end", "1000",
            "--rss-samples", os.path.join(work, "none"), "--out", out]
    for key, value in counters.items():
        args += ["--" + key.replace("_", "-"), value]
    subprocess.run(args, check=True)
    with open(out) as f:
        return json.load(f)


def load_result(server, delivered_all):
    return {"server": server, "scenario": "fanout", "connected": 10, "peak_connected": 10,
            "failed_connects": 0, "sent": 100, "delivered": 800,
            "delivered_all_phases": delivered_all, "lost": 0, "deliveries_per_s": 80.0,
            "error_total": 0, "latency_us": {"count": 800, "p50": 100, "p99": 900},
            "timeline": []}


with tempfile.TemporaryDirectory() as work:
    os.makedirs(os.path.join(work, "runs"))
    # 2. Per delivery of the whole run (delivered_all_phases), not of the measured window.
    rec = record(work, "fanout-huddle-1", load_result("huddle", 1000),
                 bytes_written0="100", bytes_written1="500100", lo_bytes0="7",
                 lo_bytes1="2000007")
    check(rec["server_stats"].get("bytes_written") == 500000, "bytes written recorded")
    check(rec.get("bytes_written_per_delivery") == 500.0,
          f"bytes written per delivery: {rec.get('bytes_written_per_delivery')}")
    check(rec.get("lo_bytes_per_delivery") == 2000.0,
          f"loopback bytes per delivery: {rec.get('lo_bytes_per_delivery')}")
    # A server without /metrics has no figure of its own; a counter that went back none.
    rec = record(work, "fanout-node-1", load_result("node", 1000), bytes_written0="",
                 bytes_written1="", lo_bytes0="500", lo_bytes1="400")
    check("bytes_written" not in rec["server_stats"], "no bytes written without /metrics")
    check(rec.get("bytes_written_per_delivery") is None, "no bytes per delivery without")
    check(rec.get("lo_bytes_per_delivery") is None, "no figure from a counter that went back")
    record(work, "fanout-huddle-deflate-1", load_result("huddle-deflate", 2000),
           bytes_written0="0", bytes_written1="600000", lo_bytes0="0", lo_bytes1="1")

    # 3. The summary names the columns and gives each server its median.
    # No gnuplot on the PATH: the plots are not what this checks.
    subprocess.run(["/usr/bin/python3", os.path.join(LIB, "summarize.py"), "bench", work],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={"PATH": work})
    with open(os.path.join(work, "summary.json")) as f:
        summary = {e["server"]: e for e in json.load(f)["summary"]}
    check(summary["huddle-deflate"]["bytes_written_per_delivery"]["median"] == 300.0,
          "median bytes written per delivery in the summary")
    check(summary["node"]["bytes_written_per_delivery"] is None, "none for node")
    with open(os.path.join(work, "summary.txt")) as f:
        text = f.read()
    check("server B written per deliv" in text and "loopback B per deliv" in text,
          "the summary table has the byte columns")

# 4. --load-args: after the scenario's arguments, split on blanks.
out = subprocess.run(
    ["bash", "-c", f'source "{LIB}/common.sh"; LOAD_ARGS="--payload json  --size 600" '
                   'SCENARIO_DURATION=5s scenario_args rooms'],
    check=True, capture_output=True, text=True).stdout.split("\n")
check(out[:-1] == ["--scenario", "rooms", "--duration", "5s", "--payload", "json", "--size",
                   "600"], f"scenario_args with LOAD_ARGS: {out}")

if failures:
    sys.exit(1)
print("bench lib: all checks passed")
