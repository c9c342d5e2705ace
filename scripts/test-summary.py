#!/usr/bin/env python3
"""Sum meson test results and extra checks into one 'N passed, N failed'.

    test-summary.py [--extra NAME=OK|FAIL]... LOG... [--rerun LOG]...
    test-summary.py --timed-out LOG

Each LOG is a meson-logs/testlog.json (one JSON object a line); a missing
or empty log counts as one failure, since it means the suite never ran.
A --rerun LOG holds second runs of tests that timed out in the log before
it: each replaces that timeout, which is listed. Skipped tests are listed
but counted neither way. The last line printed is exactly "N passed, N
failed". --timed-out prints the names (as meson test takes them) of the
tests of LOG that timed out, one a line.
"""

import json
import os
import sys

PASS = {"OK", "EXPECTEDFAIL"}
SKIP = {"SKIP"}


def read_log(log):
    entries = []
    if os.path.exists(log):
        with open(log, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        entries.append(json.loads(line))
                    except ValueError:
                        pass
    return entries


def main(argv):
    passed = failed = skipped = 0
    failures = []
    reruns = []
    extras = []
    logs = []
    args = iter(argv)
    for a in args:
        if a == "--extra":
            extras.append(next(args))
        elif a == "--timed-out":
            for e in read_log(next(args)):
                if e.get("result") == "TIMEOUT":
                    # "zerobuffer:gst / zbfilter" -> "zbfilter"
                    print(e.get("name", "").rpartition(" / ")[2])
            return 0
        elif a == "--rerun":
            logs.append((next(args), True))
        else:
            logs.append((a, False))

    results = []                # [log, entry], in order
    for log, rerun in logs:
        entries = read_log(log)
        if rerun:
            for e in entries:
                for r in results:
                    if r[1].get("name") == e.get("name") and \
                            r[1].get("result") == "TIMEOUT":
                        reruns.append("%s: %s (TIMEOUT, then %s)" % (
                            r[0], e.get("name", "?"), e.get("result")))
                        r[:] = [log, e]
                        break
                else:
                    results.append([log, e])
            continue
        if not entries:
            failed += 1
            failures.append("%s: no test results" % log)
            continue
        results.extend([log, e] for e in entries)

    for log, e in results:
        result = e.get("result", "ERROR")
        if result in PASS:
            passed += 1
        elif result in SKIP:
            skipped += 1
        else:
            failed += 1
            # the log's path tells which run failed (build/, build-asan/,
            # build/ under valgrind: memcheck-valgrind.json)
            failures.append("%s: %s (%s)" % (log, e.get("name", "?"), result))

    for x in extras:
        name, _, result = x.partition("=")
        if result == "OK":
            passed += 1
        else:
            failed += 1
            failures.append("%s (%s)" % (name, result))

    if reruns:
        print("run again after a timeout:")
        for r in reruns:
            print("  " + r)
    if failures:
        print("failed:")
        for f in failures:
            print("  " + f)
    if skipped:
        print("skipped: %d" % skipped)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
