"""The check-and-report helpers the command-line tests share: each check prints one
`ok`/`FAIL` line and the run goes on, so one run shows every failure; finish() ends the
process with the list of failures and exit 1, or exit 0."""

import sys

failures = []


def check(condition, what):
    print(f"{'ok  ' if condition else 'FAIL'} {what}")
    if not condition:
        failures.append(what)


def finish(suite):
    if failures:
        print(f"\n{len(failures)} check(s) failed:")
        for failure in failures:
            print(f"  {failure}")
        sys.exit(1)
    print(f"all {suite} checks passed")
