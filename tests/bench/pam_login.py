#!/usr/bin/python3
"""tests/bench/pam_login.py [RUNS] - what pam_winrm_broker adds to a login.

Times `pamtester SERVICE USER authenticate open_session close_session`
(pam_wrapper, a real local user, pam_unix) with three stacks: without the
module, with it (deposit, bind, release through a real winrm-brokerd), and
with `validate` (plus an AS exchange with the bed's KDC). Prints the median
and 90th percentile of each; asserts nothing about time. As root, after
`ninja -C build` (WB_BUILD_ROOT selects another build).
"""
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("WB_BUILD_ROOT", os.path.join(HERE, "..", "..", "build"))

from bedfixture import Bed  # noqa: E402
from brokerfixture import Broker, LocalUser  # noqa: E402
import pamfixture  # noqa: E402


def stacks(sock):
    wb = "{wb} socket=%s" % sock
    base = ["auth requisite {unix}", "account required {unix}", "session required {unix}"]
    return {
        "without": base,
        "with": base[:1] + ["auth optional %s use_first_pass domain=WINRMTEST" % wb] +
        base[1:] + ["session optional %s" % wb],
        "validate": base[:1] + ["auth optional %s use_first_pass realm=WINRM.TEST validate" % wb] +
        base[1:] + ["session optional %s" % wb],
    }


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    pw = "Pw-bench-" + os.urandom(6).hex()
    user = LocalUser(prefix="wbb", password=pw)
    bed = Bed(users={user.name: pw})
    os.environ["KRB5_CONFIG"] = bed.env["KRB5_CONFIG"]
    broker = Broker(bed.env, transports="ntlm, kerberos")
    services = pamfixture.ServiceDir()
    try:
        broker.start()
        for name, lines in stacks(broker.socket).items():
            services.add(name, lines)
        for name in ("without", "with", "validate"):
            times = []
            for _ in range(runs):
                t0 = time.monotonic()
                res = services.pamtester(name, user.name,
                                         ["authenticate", "open_session", "close_session"], [pw])
                times.append((time.monotonic() - t0) * 1000)
                if res.returncode != 0:
                    sys.exit("pamtester failed with stack %s: %s" % (name, res.stderr))
            times.sort()
            print("%-8s the module: login+logout median %6.1f ms, p90 %6.1f ms (%d runs)"
                  % (name, statistics.median(times), times[int(runs * 0.9) - 1], runs))
    finally:
        broker.stop()
        broker.remove()
        services.remove()
        user.drop()
        bed.down()


if __name__ == "__main__":
    main()
