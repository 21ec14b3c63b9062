"""A test bed per test module: tests/bed/up in a fresh temporary directory,
its env as a dict, the test host's JSON-lines log, run-time switches, and
tests/bed/down at the end (also when the test fails)."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.request

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BED = os.path.join(TOP, "tests", "bed")


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export "):
                k, v = line[len("export "):].split("=", 1)
                env[k] = shlex.split(v)[0] if v else ""
    return env


class Bed:
    """users: extra Windows accounts (tests/bed/up --user), a list of names
    (random passwords) or a dict name -> password (None: random)."""

    def __init__(self, switches=None, users=()):
        self.dir = tempfile.mkdtemp(prefix="winrm-bed-")
        os.chmod(self.dir, 0o755)
        args = [os.path.join(BED, "up"), self.dir]
        for k, v in (switches or {}).items():
            args += ["--set", "%s=%s" % (k, json.dumps(v))]
        if not isinstance(users, dict):
            users = {u: None for u in users}
        for name, pw in users.items():
            args += ["--user", name if pw is None else "%s=%s" % (name, pw)]
        res = subprocess.run(args, capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            self.remove()
            raise RuntimeError("tests/bed/up failed: " + res.stderr + res.stdout)
        self.env = read_env(os.path.join(self.dir, "env"))
        self.log_offset = 0

    def password(self, user):
        """The current password of a bed account (alice, bob or an extra one)."""
        var = {"alice": "WINRM_PASSWORD", "bob": "WINRM_PASSWORD2"}.get(user)
        return self.env[var or "WINRM_PASSWORD_" + re.sub(r"[-.]", "_", user).upper()]

    def passwd(self, user, password):
        """Changes an account's password while the bed runs (tests/bed/passwd):
        KDC, NTLM user file, test host; tickets issued before stay valid."""
        res = subprocess.run([os.path.join(BED, "passwd"), self.dir, user, password],
                             capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise RuntimeError("tests/bed/passwd failed: " + res.stderr + res.stdout)
        self.env = read_env(os.path.join(self.dir, "env"))

    def down(self):
        subprocess.run([os.path.join(BED, "down"), self.dir], capture_output=True, timeout=30)
        self.remove()

    def remove(self):
        """The bed holds passwords, keys and a keytab: remove it, unless
        WINRM_KEEP_BED=1 asks to keep it for a post-mortem."""
        if os.environ.get("WINRM_KEEP_BED") == "1":
            print("keeping bed " + self.dir, file=sys.stderr)
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, https=False):
        port = self.env["WINRM_HTTPS_PORT" if https else "WINRM_HTTP_PORT"]
        return "%s://%s:%s/wsman" % ("https" if https else "http", self.env["WINRM_HOST"], port)

    def proc_env(self, **extra):
        """The environment a client process needs: the bed's KRB5_CONFIG, no
        ticket cache of the caller's."""
        env = dict(os.environ)
        env.update({k: v for k, v in self.env.items()})
        env["KRB5CCNAME"] = "FILE:" + os.path.join(self.dir, "krb5cc_client")
        env.update(extra)
        return env

    def set(self, **switches):
        req = urllib.request.Request(self.env["WINRM_TESTHOST_CONTROL"],
                                     data=json.dumps(switches).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.load(r)

    def log(self):
        """All test-host log events so far."""
        with open(self.env["WINRM_TESTHOST_LOG"]) as f:
            return [json.loads(line) for line in f if line.strip()]

    def new_events(self):
        """Events logged since the last call (for per-step assertions)."""
        events = self.log()
        new, self.log_offset = events[self.log_offset:], len(events)
        return new


class BedTestCase(unittest.TestCase):
    """One bed for the whole class; switches from the class attribute."""
    switches = None

    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(cls.switches)

    @classmethod
    def tearDownClass(cls):
        cls.bed.down()

    def events(self, event=None):
        evs = self.bed.new_events()
        return [e for e in evs if event is None or e.get("event") == event]
