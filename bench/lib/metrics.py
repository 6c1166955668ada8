#!/usr/bin/python3
"""Reads a counter from huddle servers' GET /metrics (Prometheus text format), for
scripts/bench and scripts/loadtest: the bytes a server wrote, before and after a run.

  metrics.py sum NAME URL... [--ca-file PEM]

prints the sum of NAME's samples (every label set) over the URLs, e.g. the nodes of one
redisN server, as a whole number; prints nothing (exit 1) when a URL does not answer or
does not have NAME, so the caller records no figure rather than a wrong one. /metrics
answers loopback clients without a token (docs/operations.md, "Metrics"). https:// URLs
(huddle-tls) trust --ca-file. Standard library only.
"""

import argparse
import ssl
import sys
import urllib.request


def metric_sum(text, name):
    """The sum of the samples of `name` in an exposition, or None when it has none.
    A sample line is `name value` or `name{labels} value` (optionally a timestamp)."""
    total, found = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        rest = line[len(name):]
        if rest.startswith("{"):
            end = rest.find("}")
            if end < 0:
                continue
            rest = rest[end + 1:]
        elif not rest.startswith(" "):
            continue  # another metric whose name starts with this one
        fields = rest.split()
        if not fields:
            continue
        total += float(fields[0])
        found = True
    return total if found else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sum")
    s.add_argument("name")
    s.add_argument("urls", nargs="+")
    s.add_argument("--ca-file")
    s.add_argument("--timeout", type=float, default=5)
    args = parser.parse_args()
    context = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else None
    total = 0.0
    for url in args.urls:
        try:
            with urllib.request.urlopen(url, timeout=args.timeout, context=context) as r:
                value = metric_sum(r.read().decode("utf-8", "replace"), args.name)
        except (OSError, ValueError) as e:
            print(f"metrics: {url}: {e}", file=sys.stderr)
            return 1
        if value is None:
            print(f"metrics: {url} has no {args.name}", file=sys.stderr)
            return 1
        total += value
    print(int(total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
