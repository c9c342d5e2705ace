#!/usr/bin/env python3
"""Sum meson test results and extra checks into one 'N passed, N failed'.

    test-summary.py [--extra NAME=OK|FAIL]... [--note TEXT]... LOG...

Each LOG is a meson-logs/testlog.json (one JSON object a line); a missing
or empty log counts as one failure, since it means the suite never ran.
Skipped tests are listed but counted neither way. The last line printed is
exactly "N passed, N failed". Each --note is printed as it is, before the
totals (the chroot suites' line per distribution).
"""

import json
import os
import sys

PASS = {"OK", "EXPECTEDFAIL"}
SKIP = {"SKIP"}


def main(argv):
    passed = failed = skipped = 0
    failures = []
    extras = []
    notes = []
    logs = []
    args = iter(argv)
    for a in args:
        if a == "--extra":
            extras.append(next(args))
        elif a == "--note":
            notes.append(next(args))
        else:
            logs.append(a)

    for log in logs:
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
        if not entries:
            failed += 1
            failures.append("%s: no test results" % log)
            continue
        for e in entries:
            result = e.get("result", "ERROR")
            if result in PASS:
                passed += 1
            elif result in SKIP:
                skipped += 1
            else:
                failed += 1
                # the log's path tells which run failed (build/,
                # build-asan/, build/ under valgrind: memcheck-valgrind.json)
                failures.append("%s: %s (%s)" % (
                    log, e.get("name", "?"), result))

    for x in extras:
        name, _, result = x.partition("=")
        if result == "OK":
            passed += 1
        else:
            failed += 1
            failures.append("%s (%s)" % (name, result))

    if failures:
        print("failed:")
        for f in failures:
            print("  " + f)
    if skipped:
        print("skipped: %d" % skipped)
    for n in notes:
        print(n)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
