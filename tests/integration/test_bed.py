#!/usr/bin/python3
"""tests/bed/up and tests/bed/down: fast start, a complete env file, a KDC
that issues tickets, and a down that stops exactly what its up started."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bedfixture import BED, read_env  # noqa: E402

ENV_KEYS = ["WINRM_HOST", "WINRM_HTTP_PORT", "WINRM_HTTPS_PORT", "WINRM_REALM", "WINRM_USER",
            "WINRM_DOMAIN", "WINRM_PASSWORD", "KRB5_CONFIG", "WINRM_CA_CERT",
            "WINRM_CLIENT_CERT", "WINRM_CLIENT_KEY", "WINRM_KEYTAB", "WINRM_TESTHOST_LOG",
            "WINRM_TESTHOST_CONTROL", "WINRM_KDC_PORT"]


def pids_of(bed_dir):
    import json
    with open(os.path.join(bed_dir, "pids")) as f:
        return {r["name"]: r["pid"] for r in json.load(f)}


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def up(d):
    t0 = time.monotonic()
    res = subprocess.run([os.path.join(BED, "up"), d], capture_output=True, text=True,
                         timeout=30)
    return res, time.monotonic() - t0


def down(d):
    return subprocess.run([os.path.join(BED, "down"), d], capture_output=True, text=True,
                          timeout=30)


class BedTest(unittest.TestCase):
    def setUp(self):
        self.dirs = [tempfile.mkdtemp(prefix="winrm-bed-"), tempfile.mkdtemp(prefix="winrm-bed-")]

    def tearDown(self):
        for d in self.dirs:
            down(d)
            shutil.rmtree(d, ignore_errors=True)

    def test_up_env_kdc_and_down(self):
        a, b = self.dirs
        res, secs = up(a)
        self.assertEqual(res.returncode, 0, res.stderr)
        # The bound; printed so a slow machine shows up in the log.
        print("bed up took %.2f s" % secs)
        self.assertLess(secs, 5.0)
        env = read_env(os.path.join(a, "env"))
        for k in ENV_KEYS:
            self.assertTrue(env.get(k), "env lacks " + k)
        for k in ("WINRM_CA_CERT", "WINRM_CLIENT_CERT", "WINRM_CLIENT_KEY", "KRB5_CONFIG",
                  "WINRM_KEYTAB"):
            self.assertTrue(os.path.isfile(env[k]), k)
        for k in ("WINRM_HTTP_PORT", "WINRM_HTTPS_PORT", "WINRM_KDC_PORT"):
            socket.create_connection(("127.0.0.1", int(env[k])), timeout=2).close()

        # The KDC is real: kinit with the bed's password gets a TGT, and a
        # service ticket for HTTP/localhost.
        ccache = os.path.join(a, "krb5cc_test")
        kenv = dict(os.environ, KRB5_CONFIG=env["KRB5_CONFIG"], KRB5CCNAME="FILE:" + ccache)
        r = subprocess.run(["kinit", env["WINRM_USER"]], input=env["WINRM_PASSWORD"] + "\n",
                           env=kenv, capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run(["kvno", "HTTP/localhost"], env=kenv, capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run(["kinit", env["WINRM_USER"]], input="wrong\n", env=kenv,
                           capture_output=True, text=True, timeout=10)
        self.assertNotEqual(r.returncode, 0)

        # A second bed beside the first; down of one leaves the other alone.
        res, _ = up(b)
        self.assertEqual(res.returncode, 0, res.stderr)
        pa, pb = pids_of(a), pids_of(b)
        self.assertEqual(set(pa), {"krb5kdc", "testhost"})
        self.assertFalse(set(pa.values()) & set(pb.values()))
        r = down(a)
        self.assertEqual(r.returncode, 0, r.stderr)
        for pid in pa.values():
            self.assertFalse(alive(pid), "down left pid %d running" % pid)
        for pid in pb.values():
            self.assertTrue(alive(pid), "down of one bed stopped another's pid %d" % pid)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", int(env["WINRM_HTTP_PORT"])), timeout=2)
        # Twice is harmless.
        self.assertEqual(down(a).returncode, 0)

    def test_up_refuses_a_running_bed(self):
        a = self.dirs[0]
        self.assertEqual(up(a)[0].returncode, 0)
        res, _ = up(a)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("already running", res.stderr)

    def test_down_ignores_recycled_pid(self):
        # A pids file naming a live process that is not the one up started
        # (different start time) must not be signalled.
        a = self.dirs[0]
        victim = subprocess.Popen(["sleep", "30"])
        try:
            with open(os.path.join(a, "pids"), "w") as f:
                f.write('[{"name": "krb5kdc", "pid": %d, "start": 1}]' % victim.pid)
            self.assertEqual(down(a).returncode, 0)
            self.assertIsNone(victim.poll())
        finally:
            victim.kill()
            victim.wait()


if __name__ == "__main__":
    unittest.main(verbosity=2)
