#!/usr/bin/python3
"""Turns huddle-load results into run records, summary tables, JSON and gnuplot PNGs.

  summarize.py record ...        one run: huddle-load JSON + server CPU/RSS -> record
                                 (server CPU: every process of it, e.g. 3 huddle nodes
                                 and their redis-server, summed and per kind; with
                                 a perf stat file, its send calls; bytes on the wire:
                                 the server's own count, and the loopback interface's)
  summarize.py loadtest DIR      scripts/loadtest: table, summary.json, PNGs
  summarize.py bench DIR         scripts/bench --compare: medians, min-max, ratios

Standard library only (runs on Debian's /usr/bin/python3).
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys

PERCENTILES = ["p50", "p75", "p90", "p95", "p99", "p99.9", "p99.99", "max"]


def record(args):
    with open(args.load) as f:
        load = json.load(f)
    samples = []
    if os.path.exists(args.rss_samples):
        with open(args.rss_samples) as f:
            samples = [int(x) for x in f.read().split() if x.isdigit()]
    rss0 = int(args.rss0 or 0)
    peak = max(samples + [rss0])
    parts = cpu_parts(args.cpu_parts0, args.cpu_parts1)
    cpu = sum(parts.values())
    connected = load.get("peak_connected") or load.get("connected") or 0
    rec = {
        "server": args.server,
        "scenario": load.get("scenario"),
        "load_args": args.args,
        "load": load,
        "server_stats": {
            "cpu_s": round(cpu, 3),
            "cpu_s_by_kind": {k: round(v, 3) for k, v in parts.items()},
            "rss_start_kb": rss0,
            "rss_peak_kb": peak,
            "rss_end_kb": int(args.rss_end or 0),
        },
        # The load generator shares the machine, so servers are compared per CPU second.
        "deliveries_per_cpu_s": round(load["delivered"] / cpu, 1) if cpu > 0 else None,
        "rss_per_connection_bytes":
            round((peak - rss0) * 1024 / connected, 1) if connected else None,
        "rss_end_vs_start_pct":
            round((int(args.rss_end or 0) - rss0) * 100.0 / rss0, 1) if rss0 else None,
    }
    # Bytes on the wire, per delivery of the whole run (warm-up and drain included, as the
    # bytes are): what the server wrote to its WebSocket clients (huddle's /metrics), and
    # what crossed the loopback interface (both directions, TCP/IP headers included).
    delivered_all = load.get("delivered_all_phases") or load["delivered"]
    for key, before, after in (("bytes_written", args.bytes_written0, args.bytes_written1),
                               ("lo_bytes", args.lo_bytes0, args.lo_bytes1)):
        delta = counter_delta(before, after)
        if delta is not None:
            rec["server_stats"][key] = delta
        rec[key + "_per_delivery"] = (round(delta / delivered_all, 1)
                                      if delta is not None and delivered_all else None)
    calls = send_calls(args.send_calls)
    if calls:
        rec["server_stats"]["send_calls"] = calls
        total = sum(calls.values())
        # Idle runs deliver nothing: their send calls are handshakes and closes.
        rec["deliveries_per_send_call"] = (round(load["delivered"] / total, 2)
                                           if total and load["delivered"] else None)
    with open(args.out, "w") as f:
        json.dump(rec, f, indent=1)


def counter_delta(before, after):
    """after - before for two readings of a counter given as text, or None when either is
    missing (no such counter for this server) or the counter went back (a restart)."""
    if not before or not after or not before.isdigit() or not after.isdigit():
        return None
    delta = int(after) - int(before)
    return delta if delta >= 0 else None


def send_calls(path):
    """`perf stat -x,` output ("COUNT,,syscalls:sys_enter_NAME,...") -> {NAME: COUNT}, or
    {} when there is no such file or a counter did not count."""
    if not path or not os.path.exists(path):
        return {}
    calls = {}
    with open(path) as f:
        for line in f:
            fields = line.strip().split(",")
            if len(fields) < 3 or not fields[2].startswith("syscalls:sys_enter_"):
                continue
            if not fields[0].isdigit():  # <not counted>, <not supported>
                return {}
            calls[fields[2][len("syscalls:sys_enter_"):]] = int(fields[0])
    return calls


def cpu_parts(before, after):
    """ "huddle=1.2 redis-server=0.3 ..." before and after (one word per process, in the
    same order) -> CPU seconds used per kind of process."""
    parts = {}
    for b, a in zip(before.split(), after.split()):
        kind, b_s = b.rsplit("=", 1)
        kind_a, a_s = a.rsplit("=", 1)
        if kind != kind_a:
            raise SystemExit(f"summarize: process lists differ ({before!r} vs {after!r})")
        parts[kind] = parts.get(kind, 0.0) + max(0.0, float(a_s) - float(b_s))
    return parts


def load_records(directory):
    records = []
    for path in sorted(glob.glob(os.path.join(directory, "runs", "*.json"))):
        with open(path) as f:
            records.append(json.load(f))
    return records


def fmt(value, digits=0):
    if value is None:
        return "-"
    if isinstance(value, float) or digits:
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    out = ["  ".join(str(h).rjust(w) for h, w in zip(headers, widths)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def markdown(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def gnuplot(script, directory):
    if shutil.which("gnuplot") is None:
        print("gnuplot not found: no PNGs", file=sys.stderr)
        return
    path = os.path.join(directory, "plot.gp")
    if os.path.exists(path):  # one script per call, kept for re-plotting by hand
        path = os.path.join(directory, f"plot-{len(glob.glob(os.path.join(directory, 'plot*.gp')))}.gp")
    with open(path, "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", path], check=False, cwd=directory)


def timeline_rates(load):
    """Per-tick deliveries/s from the cumulative timeline."""
    rows, last_t, last_d = [], 0.0, 0
    for t, _connected, _sent, delivered, _errors in load.get("timeline", []):
        dt = t - last_t
        if dt > 0:
            rows.append((t, (delivered - last_d) / dt))
        last_t, last_d = t, delivered
    return rows


def write_plots(directory, records, label_of, prefix=""):
    """deliveries/s over time and latency percentiles, one line per record."""
    data_dir = os.path.join(directory, "data")
    os.makedirs(data_dir, exist_ok=True)
    series = []
    for i, rec in enumerate(records):
        name = f"{prefix}{i:02d}"
        with open(os.path.join(data_dir, name + ".rate"), "w") as f:
            for t, rate in timeline_rates(rec["load"]):
                f.write(f"{t:.3f} {rate:.1f}\n")
        lat = rec["load"].get("latency_us", {})
        if lat.get("count"):  # idle runs deliver nothing: no latency line
            with open(os.path.join(data_dir, name + ".lat"), "w") as f:
                for j, p in enumerate(PERCENTILES):
                    f.write(f'{j} "{p}" {lat.get(p, 0) / 1000.0:.4f}\n')
        series.append((name, label_of(rec).replace('"', ""), bool(lat.get("count"))))
    if not series:
        return
    rate_plots = ", ".join(f'"data/{n}.rate" using 1:2 with lines lw 2 title "{t}"'
                           for n, t, _ in series)
    lat_plots = ", ".join(f'"data/{n}.lat" using 1:3:xtic(2) with linespoints lw 2 title "{t}"'
                          for n, t, has in series if has)
    terminal = "pngcairo" if _has_pngcairo() else "png"
    title = prefix.rstrip("-") + ": " if prefix else ""
    script = f"""set terminal {terminal} size 1000,560 noenhanced
set grid
set key outside right
set output "{prefix}deliveries.png"
set title "{title}deliveries per second over time (all phases)"
set xlabel "seconds since start"
set ylabel "deliveries/s"
plot {rate_plots}
"""
    if lat_plots:  # idle runs have no latency to draw
        script += f"""set output "{prefix}latency.png"
set title "{title}delivery latency percentiles (measured window)"
set xlabel "percentile"
set ylabel "latency (ms)"
set logscale y
plot {lat_plots}
"""
    gnuplot(script, directory)


def _has_pngcairo():
    try:
        out = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True,
                             check=False)
        return "pngcairo" in (out.stdout + out.stderr)
    except OSError:
        return False


def run_row(rec):
    load, stats = rec["load"], rec["server_stats"]
    lat = load.get("latency_us", {})
    return [
        rec["scenario"], rec["server"], fmt(load["connected"]), fmt(load["failed_connects"]),
        fmt(load["sent"]), fmt(load["delivered"]), fmt(load["lost"]),
        fmt(load["deliveries_per_s"], 0), fmt(rec["deliveries_per_cpu_s"], 0),
        fmt(lat.get("p50", 0) / 1000, 3), fmt(lat.get("p99", 0) / 1000, 3),
        fmt(lat.get("p99.9", 0) / 1000, 3), fmt(stats["cpu_s"], 2),
        fmt(stats["rss_start_kb"] / 1024, 1), fmt(stats["rss_peak_kb"] / 1024, 1),
        fmt(stats["rss_end_kb"] / 1024, 1), fmt(rec["rss_per_connection_bytes"], 0),
        fmt(load["error_total"]),
    ]


RUN_HEADERS = ["scenario", "server", "conn", "failed", "sent", "delivered", "lost",
               "deliv/s", "deliv/cpu-s", "p50 ms", "p99 ms", "p99.9 ms", "cpu s",
               "rss0 MiB", "rss peak", "rss end", "B/conn", "errors"]


def loadtest(args):
    records = load_records(args.dir)
    rows = [run_row(r) for r in records]
    text = table(RUN_HEADERS, rows)
    print(text)
    with open(os.path.join(args.dir, "summary.txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.dir, "summary.md"), "w") as f:
        f.write(markdown(RUN_HEADERS, rows) + "\n")
    with open(os.path.join(args.dir, "summary.json"), "w") as f:
        json.dump(records, f, indent=1)
    write_plots(args.dir, records, lambda r: r["scenario"])


def stats_of(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def mmm(s, digits=0, scale=1.0):
    if s is None:
        return "-"
    return (f"{fmt(s['median'] * scale, digits)} "
            f"({fmt(s['min'] * scale, digits)}–{fmt(s['max'] * scale, digits)})")


def bench(args):
    records = load_records(args.dir)
    groups = {}
    for rec in records:
        groups.setdefault((rec["scenario"], rec["server"]), []).append(rec)
    summary, rows = [], []
    scenarios = []
    for rec in records:
        if rec["scenario"] not in scenarios:
            scenarios.append(rec["scenario"])
    servers = []
    for rec in records:
        if rec["server"] not in servers:
            servers.append(rec["server"])
    # Cluster runs (huddle nodes + redis-server): their CPU split and p99 difference too.
    with_redis = any("redis-server" in r["server_stats"].get("cpu_s_by_kind", {})
                     for r in records)
    # --send-calls: frames per send call (a delivery is one frame to one member).
    with_calls = any(r.get("deliveries_per_send_call") is not None for r in records)
    # Bytes on the wire per delivery: the server's own count (huddle), the loopback's.
    with_written = any(r.get("bytes_written_per_delivery") is not None for r in records)
    with_lo = any(r.get("lo_bytes_per_delivery") is not None for r in records)
    for scenario in scenarios:
        base = groups.get((scenario, "huddle"), [])
        base_dpc = stats_of([r["deliveries_per_cpu_s"] for r in base])
        base_p99 = stats_of([r["load"]["latency_us"].get("p99") for r in base
                             if r["load"]["latency_us"].get("count")])
        for server in servers:
            runs = groups.get((scenario, server))
            if not runs:
                continue
            entry = {
                "scenario": scenario, "server": server, "runs": len(runs),
                "deliveries_per_s": stats_of([r["load"]["deliveries_per_s"] for r in runs]),
                "deliveries_per_cpu_s": stats_of([r["deliveries_per_cpu_s"] for r in runs]),
                "p50_us": stats_of([r["load"]["latency_us"].get("p50") for r in runs
                                    if r["load"]["latency_us"].get("count")]),
                "p99_us": stats_of([r["load"]["latency_us"].get("p99") for r in runs
                                    if r["load"]["latency_us"].get("count")]),
                "lost": stats_of([r["load"]["lost"] for r in runs]),
                "failed_connects": stats_of([r["load"]["failed_connects"] for r in runs]),
                "cpu_s": stats_of([r["server_stats"]["cpu_s"] for r in runs]),
                "redis_cpu_s": stats_of([r["server_stats"].get("cpu_s_by_kind", {})
                                         .get("redis-server") for r in runs]),
                "rss_peak_kb": stats_of([r["server_stats"]["rss_peak_kb"] for r in runs]),
                "rss_per_connection_bytes": stats_of([r["rss_per_connection_bytes"] for r in runs]),
                "deliveries_per_send_call": stats_of([r.get("deliveries_per_send_call")
                                                      for r in runs]),
                "bytes_written_per_delivery": stats_of([r.get("bytes_written_per_delivery")
                                                        for r in runs]),
                "lo_bytes_per_delivery": stats_of([r.get("lo_bytes_per_delivery")
                                                   for r in runs]),
            }
            dpc, p99 = entry["deliveries_per_cpu_s"], entry["p99_us"]
            # Ratios are huddle / this server: > 1 means huddle does more per CPU second,
            # < 1 on p99 means huddle is faster.
            entry["huddle_dpc_ratio"] = (base_dpc["median"] / dpc["median"]
                                         if base_dpc and dpc and dpc["median"] else None)
            entry["huddle_p99_ratio"] = (base_p99["median"] / p99["median"]
                                         if base_p99 and p99 and p99["median"] else None)
            # Scale-out's targets (issue 12) are differences from single-node huddle.
            entry["p99_minus_huddle_us"] = (p99["median"] - base_p99["median"]
                                            if base_p99 and p99 else None)
            summary.append(entry)
            rows.append([
                scenario, server, len(runs), mmm(entry["deliveries_per_s"]),
                mmm(entry["deliveries_per_cpu_s"]), mmm(entry["p50_us"], 3, 1e-3),
                mmm(entry["p99_us"], 3, 1e-3), mmm(entry["lost"]),
                mmm(entry["failed_connects"]), mmm(entry["rss_per_connection_bytes"]),
                fmt(entry["huddle_dpc_ratio"], 2), fmt(entry["huddle_p99_ratio"], 2),
            ])
            if with_redis:
                rows[-1] += [mmm(entry["cpu_s"], 2), mmm(entry["redis_cpu_s"], 2),
                             fmt(None if entry["p99_minus_huddle_us"] is None
                                 else entry["p99_minus_huddle_us"] / 1000, 3)]
            if with_calls:
                rows[-1].append(mmm(entry["deliveries_per_send_call"], 2))
            if with_written:
                rows[-1].append(mmm(entry["bytes_written_per_delivery"]))
            if with_lo:
                rows[-1].append(mmm(entry["lo_bytes_per_delivery"]))
    headers = ["scenario", "server", "runs", "deliv/s median (min–max)",
               "deliv per server-CPU-s", "p50 ms", "p99 ms", "lost", "failed conn",
               "RSS B/conn", "huddle÷it deliv/cpu", "huddle÷it p99"]
    if with_redis:
        headers += ["server CPU s", "of it redis-server", "p99 − huddle's ms"]
    if with_calls:
        headers.append("deliv per send call")
    if with_written:
        headers.append("server B written per deliv")
    if with_lo:
        headers.append("loopback B per deliv")
    text = table(headers, rows)
    print(text)
    with open(os.path.join(args.dir, "summary.txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.dir, "summary.md"), "w") as f:
        f.write(markdown(headers, rows) + "\n")
    with open(os.path.join(args.dir, "summary.json"), "w") as f:
        json.dump({"summary": summary, "runs": records}, f, indent=1)
    # Per scenario, one line per server: its median run by deliveries/s.
    for scenario in scenarios:
        chosen = []
        for server in servers:
            runs = sorted(groups.get((scenario, server), []),
                          key=lambda r: r["load"]["deliveries_per_s"])
            if runs:
                chosen.append(runs[len(runs) // 2])
        write_plots(args.dir, chosen, lambda r: r["server"], prefix=f"{scenario}-")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--load", required=True)
    rec.add_argument("--server", required=True)
    rec.add_argument("--cpu-parts0", required=True, help="KIND=CPU_S per process, before")
    rec.add_argument("--cpu-parts1", required=True, help="the same processes, after")
    rec.add_argument("--rss0", required=True)
    rec.add_argument("--rss-end", required=True)
    rec.add_argument("--rss-samples", required=True)
    rec.add_argument("--send-calls", default="", help="perf stat -x, output, if any")
    rec.add_argument("--bytes-written0", default="",
                     help="the server's huddle_bytes_written_total before, if it has one")
    rec.add_argument("--bytes-written1", default="", help="the same, after")
    rec.add_argument("--lo-bytes0", default="", help="loopback tx_bytes before")
    rec.add_argument("--lo-bytes1", default="", help="the same, after")
    rec.add_argument("--args", default="")
    rec.add_argument("--out", required=True)
    lt = sub.add_parser("loadtest")
    lt.add_argument("dir")
    bn = sub.add_parser("bench")
    bn.add_argument("dir")
    args = parser.parse_args()
    {"record": record, "loadtest": loadtest, "bench": bench}[args.command](args)


if __name__ == "__main__":
    main()
