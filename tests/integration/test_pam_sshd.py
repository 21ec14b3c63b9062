#!/usr/bin/python3
"""The jump host, end to end (issue 7): a real sshd (Debian openssh-server)
on a loopback port, password authentication through PAM (pam_wrapper's
service "sshd": pam_unix, then pam_winrm_broker.so), a created user whose
Linux password is also their Windows password on the bed. The user logs in
with /usr/bin/ssh and runs `winrm-broker run --cred login` in the SSH
session: the deposited password reaches the Windows side (the bed's test
host) through the broker, the user never handles it again, and when the SSH
session ends the credential is gone."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bedfixture import Bed  # noqa: E402
from brokerfixture import Broker, LocalUser, is_root, wait_for  # noqa: E402
import pamfixture  # noqa: E402
from pamfixture import ServiceDir, Sshd  # noqa: E402

POLICY = {"10-login.conf": "[rule pam-login]\nusers = *\ncredentials = personal:login\n"
                           "hosts = localhost\ntransports = ntlm, kerberos\n"}
CMD = 'echo "pam-ok $(id -un)"'


def skip_reason():
    if not is_root():
        return "needs root: creates local users, runs the broker and sshd"
    return pamfixture.missing() or (None if os.path.exists(pamfixture.SSHD) and
                                    os.path.exists(pamfixture.SSH) else "no sshd/ssh")


@unittest.skipIf(skip_reason(), str(skip_reason()))
class PamSshdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        cls.users = []
        for _ in range(2):
            pw = "Pw-ssh-" + os.urandom(6).hex()
            u = LocalUser(prefix="wbs", shell="/bin/sh", password=pw)
            u.password = pw
            cls.addClassCleanup(u.drop)
            cls.users.append(u)
        cls.user = cls.users[0]
        cls.bed = Bed(users={u.name: u.password for u in cls.users})
        cls.addClassCleanup(cls.bed.down)
        cls.env = cls.bed.env
        os.environ["KRB5_CONFIG"] = cls.env["KRB5_CONFIG"]
        cls.broker = Broker(cls.env, transports="ntlm, kerberos", policy=POLICY)
        cls.addClassCleanup(cls.broker.remove)
        cls.broker.start()
        cls.pam = ServiceDir()
        cls.addClassCleanup(cls.pam.remove)
        wb = "{wb} socket=%s" % cls.broker.socket
        cls.pam.add("sshd", [
            "auth     requisite {unix}",
            "auth     optional  %s use_first_pass domain=WINRMTEST" % wb,
            "account  required  {unix}",
            "session  required  {unix}",
            "session  optional  %s" % wb,
            "password requisite {unix}"])
        cls.sshd = Sshd(cls.pam)
        cls.addClassCleanup(cls.sshd.remove)
        cls.sshd.start()
        cls.tmp = tempfile.mkdtemp(prefix="winrm-pamsshd-")
        os.chmod(cls.tmp, 0o755)
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        print("setup: users %s, bed, broker, sshd on 127.0.0.1:%d: %.1f s"
              % (", ".join(u.name for u in cls.users), cls.sshd.port, time.monotonic() - t0))

    def step(self, msg):
        print("  " + msg, flush=True)

    def remote(self, *args):
        """The command line the user types in the SSH session: the CLI the
        broker fixture copied where users can run it, the test socket."""
        cli = self.broker.cli_path
        return ("WINRM_BROKER_SOCKET=%s LD_LIBRARY_PATH=%s %s %s"
                % (shlex.quote(self.broker.socket), shlex.quote(os.path.dirname(cli)),
                   shlex.quote(cli), " ".join(shlex.quote(a) for a in args)))

    def run_args(self):
        return ["run", "--cred", "login", "--port", self.env["WINRM_HTTP_PORT"], "--scheme",
                "http", "-t", "ntlm", "-n", "localhost", "--", CMD]

    def login_creds(self, user=None):
        res = self.broker.cli("cred", "ls", "--json", user=user or self.user)
        self.assertEqual(res.returncode, 0, res.stderr)
        return [c for c in json.loads(res.stdout) if c["name"] == "login"]

    def test_jump_host(self):
        u = self.user
        self.assertEqual(self.login_creds(), [])
        n_audit = len(self.broker.audit())
        self.bed.new_events()
        run = self.remote("run", "--cred", "login", "--port", self.env["WINRM_HTTP_PORT"],
                          "--scheme", "http", "-t", "ntlm", "-n", "localhost", "--", CMD)
        ls = self.remote("cred", "ls")
        t0 = time.monotonic()
        res = self.sshd.ssh(u.name, u.password, "id -un; %s; %s" % (ls, run))
        self.step("ssh %s@127.0.0.1 -p %d (password via SSH_ASKPASS): exit %d in %.1f s"
                  % (u.name, self.sshd.port, res.returncode, time.monotonic() - t0))
        out = res.stdout.decode(errors="replace")
        for line in out.splitlines():
            self.step("  remote| " + line)
        self.assertEqual(res.returncode, 0, res.stderr.decode() + self.sshd.log())
        lines = out.splitlines()
        self.assertEqual(lines[0], u.name)
        self.assertEqual(lines[-1], "pam-ok nobody")
        # brokerd.conf's session_max_ttl_sec (default 7 days) gives it an expiry.
        self.assertTrue(any(line.startswith("login ") and
                            re.search(r"\(session, 1 login(, expires [^)]+)?\)", line)
                            for line in lines), out)

        events = self.bed.new_events()
        auths = [e for e in events if e["event"] == "auth"]
        self.assertEqual({(a["mechanism"], a["principal"]) for a in auths},
                         {("ntlm", "WINRMTEST\\" + u.name)}, auths)
        msgs = [e for e in events if e["event"] == "message" and e.get("action")]
        self.assertTrue(msgs and all(m["encrypted"] for m in msgs), msgs)
        cmds = [e for e in events if e["event"] == "command"]
        self.assertEqual(len(cmds), 1, cmds)
        self.step("test host: ntlm as WINRMTEST\\%s, %d sealed messages, command %r"
                  % (u.name, len(msgs), cmds[0]["command"]))

        # The credential goes when sshd closes the PAM session, which may be
        # a moment after the client has exited.
        t1 = time.monotonic()
        self.assertTrue(wait_for(lambda: self.login_creds() == [], timeout=10),
                        "the login credential outlived the SSH session")
        self.step("after logout: credential gone (%.2f s after ssh exited)"
                  % (time.monotonic() - t1))

        recs = self.broker.audit()[n_audit:]
        for r in recs:
            if r.get("event") == "decision":
                self.step("audit: %s" % json.dumps({k: r.get(k) for k in (
                    "operation", "decision", "uid", "user", "exe", "cred", "cred_owner")}))
        by_op = {}
        for r in recs:
            if r.get("event") == "decision":
                by_op.setdefault(r["operation"], []).append(r)
        self.assertEqual([(r["decision"], r["uid"], r["user"], r["cred"])
                          for r in by_op.get("run", [])], [("allow", u.uid, u.name, "login")])
        for op in ("session-deposit", "session-open", "session-close"):
            self.assertEqual([(r["decision"], r["uid"], r.get("cred_owner"), r.get("exe"))
                              for r in by_op.get(op, [])],
                             [("allow", 0, u.uid, pamfixture.SSHD)], (op, by_op))
        with open(self.broker.audit_path, "rb") as f:
            self.assertNotIn(u.password.encode(), f.read())
        self.assertNotIn(u.password, self.broker.log() + self.sshd.log())

    def sessions(self, user):
        creds = self.login_creds(user)
        return creds[0]["sessions"] if creds else 0

    def host_principals(self):
        return {e["principal"] for e in self.bed.new_events() if e["event"] == "auth"}

    def test_two_users_concurrent_sessions(self):
        # The jump host as people use it: A keeps a shell open, B logs in
        # too, A opens a second session and leaves it; each works as
        # themselves, and a credential lives exactly as long as its
        # owner's last session.
        a, b = self.users
        stops = {}

        def hold(user, tag):
            stop = os.path.join(self.tmp, "stop-" + tag)
            stops[tag] = stop
            proc = self.sshd.ssh_start(user.name, user.password,
                                       "while [ ! -e %s ]; do sleep 0.1; done; echo bye" % stop)

            def end():
                # Also when the test failed half-way: the remote loop ends.
                if proc.poll() is None:
                    open(stop, "w").close()
                    try:
                        self.sshd.ssh_wait(proc, timeout=10)
                    except subprocess.TimeoutExpired:
                        pass
            self.addCleanup(end)
            return proc

        def release(proc, tag):
            open(stops[tag], "w").close()
            res = self.sshd.ssh_wait(proc, timeout=30)
            self.assertEqual((res.returncode, res.stdout), (0, b"bye\n"), res.stderr)

        a1 = hold(a, "a1")
        self.assertTrue(wait_for(lambda: self.sessions(a) == 1, timeout=15), self.sshd.log())
        b1 = hold(b, "b1")
        self.assertTrue(wait_for(lambda: self.sessions(b) == 1, timeout=15), self.sshd.log())
        self.step("A (%s) and B (%s) hold an SSH session each" % (a.name, b.name))

        self.bed.new_events()
        res = self.sshd.ssh(a.name, a.password, self.remote("cred", "ls", "--json") + "; " +
                            self.remote(*self.run_args()))
        self.assertEqual(res.returncode, 0, res.stderr)
        listed, out = res.stdout.split(b"\n", 1)
        self.assertEqual([c["sessions"] for c in json.loads(listed) if c["name"] == "login"],
                         [2])
        self.assertEqual(out, b"pam-ok nobody\n")
        self.assertEqual(self.host_principals(), {"WINRMTEST\\" + a.name})
        self.step("A's second SSH session saw 2 sessions and ran as WINRMTEST\\%s" % a.name)
        self.assertTrue(wait_for(lambda: self.sessions(a) == 1, timeout=10))

        res = self.sshd.ssh(b.name, b.password, self.remote(*self.run_args()))
        self.assertEqual((res.returncode, res.stdout), (0, b"pam-ok nobody\n"), res.stderr)
        self.assertEqual(self.host_principals(), {"WINRMTEST\\" + b.name})
        self.step("B's run in a second session: WINRMTEST\\%s" % b.name)

        release(a1, "a1")
        self.assertTrue(wait_for(lambda: self.login_creds(a) == [], timeout=10))
        self.assertEqual(self.sessions(b), 1)
        res = self.broker.cli(*self.run_args(), user=b)
        self.assertEqual((res.returncode, res.stdout), (0, b"pam-ok nobody\n"), res.stderr)
        self.step("A logged out: A's credential gone, B's still works")
        release(b1, "b1")
        self.assertTrue(wait_for(lambda: self.login_creds(b) == [], timeout=10))
        self.step("B logged out: gone too")

    def test_wrong_password_deposits_nothing(self):
        n_audit = len(self.broker.audit())
        res = self.sshd.ssh(self.user.name, "Wrong-" + self.user.password, "true")
        self.step("ssh with a wrong password: exit %d: %s"
                  % (res.returncode, res.stderr.decode().strip()))
        self.assertEqual(res.returncode, 255)
        self.assertIn(b"Permission denied", res.stderr)
        self.assertEqual(self.login_creds(), [])
        # pam_unix is requisite: the module never saw the wrong password.
        ops = [r.get("operation") for r in self.broker.audit()[n_audit:]]
        self.assertNotIn("session-deposit", ops)

    def test_zz_clean_exit(self):
        # Last: a clean SIGTERM (the sanitizer build: LeakSanitizer's check),
        # and no sanitizer report from the module inside sshd.
        self.assertEqual(self.broker.stop(), 0, self.broker.log()[-3000:])
        self.assertNotIn("LeakSanitizer", self.broker.log())
        self.sshd.stop()
        self.assertNotRegex(self.sshd.log(), r"AddressSanitizer|runtime error:")
        for u in self.users:
            self.assertNotIn(u.password, self.sshd.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
