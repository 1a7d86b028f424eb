"""pysteps.py - numbered checks for the Python parts of the e2e tests.

run(steps): steps is a list of (name, fn); fn() returns True when its check
holds. Each prints "ok - name" or "not ok - name"; an exception is a "not
ok" naming it, and the steps after it (they share a session that is now in
an unknown state) are "not ok ... not run". Returns the exit status: 0 when
every step passed, else 1, so the shell side sees a failure even where a
line was lost.
"""
import traceback


def run(steps):
    failed = 0
    broken = None
    for name, fn in steps:
        if broken:
            print("not ok - %s (not run: %s)" % (name, broken), flush=True)
            failed += 1
            continue
        try:
            good = bool(fn())
            why = ""
        except Exception as ex:  # the check's own failure, reported as such
            good = False
            why = " (%s: %s)" % (type(ex).__name__, ex)
            broken = "'%s' raised" % name
            for line in traceback.format_exc().splitlines()[-4:]:
                print("    # " + line, flush=True)
        print("%s - %s%s" % ("ok" if good else "not ok", name, why), flush=True)
        failed += not good
    return 1 if failed else 0
