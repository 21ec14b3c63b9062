#!/usr/bin/python3
"""pam_winrm_broker.so end to end (issue 7, PAM module), through pam_wrapper
and pamtester: real local users whose Linux password (pam_unix) is also
their Windows password on the bed (tests/bed/up --user), a real
winrm-brokerd whose policy grants `personal:login` over NTLM and Kerberos,
and the CLI run as the user against the bed's test host over HTTP (message
encryption).

  a. NTLM: auth + open_session deposit and bind; the user runs a command
     with `--cred login`; close_session removes it; the run is refused.
  b. Kerberos with `validate`: the KDC's AS-REQ; a wrong password under
     `validate` keeps nothing.
  c. Two logins, two closes (the reference count); a failed login while a
     session is open never replaces the working password.
  d. Broker down (no socket, a stale socket, a broker that never answers),
     an untrusted socket owner, an untrusted peer: the login succeeds, the
     module logs why, nothing reaches the impostor; broker_down=fail (on a
     required line) fails the login.
  e. A user depositing, binding or releasing for another uid: refused and
     audited; the other user's credential untouched.
  f. ttl=2: gone after its TTL although the session is still open.
  g. chauthtok: pam_unix changes the Linux password, the module the
     session credential; works after the domain password changed.
  j. A logout after its credential expired (TTL) and a newer login bound
     a new one: it releases nothing (the session id of its own open).
  k. An expired password changed during the login (auth, acct_mgmt,
     chauthtok, open_session on one handle): the session opens with the
     new password, with and without another session already open.
  l. A second authentication attempt on the same handle (as sshd makes
     it) that does not get as far as its own deposit: the first attempt's
     deposit, whose password the stack rejected, is not bound.
The real sshd is in test_pam_sshd.py. pam_driver (tests/integration/
pam_driver.c) makes PAM calls on one handle at the times a test says."""
import datetime
import json
import os
import shutil
import socket
import struct
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
from pamfixture import ServiceDir  # noqa: E402

SPNEGO_PROTO = "application/HTTP-SPNEGO-session-encrypted"
KRB_PROTO = "application/HTTP-Kerberos-session-encrypted"
CMD = 'echo "pam-ok $(id -un)"'
CMD_OUT = b"pam-ok nobody\n"
EXIT_REFUSED = 255
BIND_TIMEOUT = 3
SANITIZER_REPORT = r"AddressSanitizer|LeakSanitizer|runtime error:"

POLICY = {"10-login.conf": "[rule pam-login]\nusers = *\ncredentials = personal:login, personal:corp\n"
                           "hosts = localhost\ntransports = ntlm, kerberos, credssp\n"}

# Frames of docs/protocol.md, for the raw client of test e.
MSG_HELLO, MSG_CRED_ADD, MSG_CRED_SESSION = 0x0001, 0x0030, 0x0035
MSG_OK, MSG_ERROR = 0x00F0, 0x00FF
A_VERSION, A_CLIENT, A_CRED, A_SCOPE, A_KIND, A_USER, A_DOMAIN, A_SECRET = \
    0x0001, 0x0002, 0x0010, 0x0011, 0x0012, 0x0013, 0x0014, 0x0015
A_OWNER, A_ERROR_CODE, A_MESSAGE = 0x001B, 0x0050, 0x0051
A_SESSION, A_SESSION_OP, A_SESSIONS, A_DEPOSIT = 0x0080, 0x0083, 0x0084, 0x0086
E_DENIED = 5


def attr(tag, value):
    return struct.pack(">HI", tag, len(value)) + value


def frame(ftype, *attrs):
    payload = b"".join(attrs)
    return struct.pack(">IHH", len(payload), ftype, 0) + payload


def u8(v):
    return struct.pack(">B", v)


def u32(v):
    return struct.pack(">I", v)


# Runs as an unprivileged user (runuser): sends HELLO and the frames given
# (hex, one per line on stdin) one at a time, prints each reply frame as
# JSON {"type": t, "attrs": [[tag, hex], ...]}.
RAW_CLIENT = r"""
import json, socket, struct, sys
def read(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b
def reply(s):
    n, t, _ = struct.unpack(">IHH", read(s, 8))
    p, attrs = read(s, n), []
    while p:
        tag, ln = struct.unpack(">HI", p[:6])
        attrs.append([tag, p[6:6 + ln].hex()])
        p = p[6 + ln:]
    return {"type": t, "attrs": attrs}
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
for line in sys.stdin:
    s.sendall(bytes.fromhex(line.strip()))
    print(json.dumps(reply(s)), flush=True)
"""


def stamp(iso):
    """An audit record's time (2024-05-01T12:00:00.123456Z) in seconds."""
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def attr_value(rep, tag):
    for t, v in rep["attrs"]:
        if t == tag:
            return bytes.fromhex(v)
    return None


class FakeBroker:
    """A listener on a Unix socket that records every byte it receives, per
    connection. owner: run it as this LocalUser (the socket's directory must
    be writable by it); else as root."""

    SCRIPT = r"""
import json, os, socket, sys
path, report = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
os.chmod(path, 0o666)
s.listen(8)
print("ready", flush=True)
conns = []
while True:
    c, _ = s.accept()
    c.settimeout(3)
    data = b""
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
    except OSError:
        pass
    c.close()
    conns.append(data.hex())
    with open(report + ".tmp", "w") as f:
        json.dump(conns, f)
    os.replace(report + ".tmp", report)
"""

    def __init__(self, dirpath, owner=None):
        self.path = os.path.join(dirpath, "fake.sock")
        self.report = os.path.join(dirpath, "fake.report")
        cmd = ["/usr/bin/python3", "-c", self.SCRIPT, self.path, self.report]
        # The listener itself runs as the user (no runuser in between), so
        # stop() ends exactly it.
        ids = {} if owner is None else {"user": owner.uid, "group": owner.gid,
                                        "extra_groups": []}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, **ids)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError("fake broker did not start: " + self.proc.stderr.read())

    def received(self):
        """Bytes per accepted connection (each closed by then)."""
        try:
            with open(self.report) as f:
                return [bytes.fromhex(h) for h in json.load(f)]
        except FileNotFoundError:
            return []

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


@unittest.skipUnless(is_root(), "needs root: creates local users, runs the broker and PAM stacks")
@unittest.skipIf(pamfixture.missing(), str(pamfixture.missing()))
class PamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        # One local user per scenario: each ends with its own credential in
        # its own state. Each Linux password is the user's bed password.
        cls.users = {}
        for key in ("ntlm", "krb", "refc", "ttl", "chpw", "owner", "other", "down", "unbound", "hop",
                    "stale", "expired", "retry", "fmt"):
            pw = "Pw-%s-%s" % (key, os.urandom(6).hex())
            cls.users[key] = LocalUser(prefix="wbp", password=pw)
            cls.users[key].password = pw
            cls.addClassCleanup(cls.users[key].drop)
        # "retry": a Linux password that is not the Windows one (test l).
        cls.users["retry"].linux_password = "Lx-retry-" + os.urandom(6).hex()
        cls.users["retry"].set_password(cls.users["retry"].linux_password)
        cls.bed = Bed(users={u.name: u.password for u in cls.users.values()})
        cls.addClassCleanup(cls.bed.down)
        cls.env = cls.bed.env
        os.environ["KRB5_CONFIG"] = cls.env["KRB5_CONFIG"]
        # A short bind timeout, so that test_h sees an unbound deposit wiped;
        # pamtester's authenticate and open_session are milliseconds apart.
        cls.broker = Broker(cls.env, transports="ntlm, kerberos, credssp", policy=POLICY,
                            broker_extra="session_bind_timeout_sec = %d\n" % BIND_TIMEOUT)
        cls.addClassCleanup(cls.broker.remove)
        cls.broker.start()
        cls.sock = cls.broker.socket
        cls.pam = ServiceDir()
        cls.addClassCleanup(cls.pam.remove)
        cls.tmp = tempfile.mkdtemp(prefix="winrm-pamtest-")
        os.chmod(cls.tmp, 0o755)
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        wb = "{wb} socket=%s" % cls.sock
        # The jump host's stack: pam_unix checks the password, the module
        # passes it on (use_first_pass), sessions bind and release it.
        cls.pam.add("login-ntlm", [
            "auth     requisite {unix}",
            "auth     optional  %s use_first_pass domain=WINRMTEST" % wb,
            "account  required  {unix}",
            "session  required  {unix}",
            "session  optional  %s" % wb,
            "password requisite {unix}",
            "password optional  %s domain=WINRMTEST" % wb])
        cls.pam.add("login-krb", [
            "auth     requisite {unix}",
            "auth     optional  %s use_first_pass realm=WINRM.TEST validate" % wb,
            "account  required  {unix}",
            "session  required  {unix}",
            "session  optional  %s" % wb])
        # Module only, pam_permit to let the stack succeed: the module sees
        # whatever password is typed (validate is then the only check).
        cls.pam.add("validate-only", [
            "auth     optional  %s try_first_pass realm=WINRM.TEST validate" % wb,
            "auth     required  {permit}",
            "account  required  {permit}",
            "session  required  {unix}",
            "session  optional  %s" % wb])
        # A stack that goes on after pam_unix failed: the module gets the
        # wrong password and deposits it; the stack then fails.
        cls.pam.add("goes-on", [
            "auth     optional  {unix}",
            "auth     optional  %s use_first_pass domain=WINRMTEST" % wb,
            "account  required  {unix}",
            "session  required  {unix}",
            "session  optional  %s" % wb])
        # delegate: the login password may go on to the host (CredSSP).
        cls.pam.add("login-hop", [
            "auth     requisite {unix}",
            "auth     optional  %s use_first_pass domain=WINRMTEST delegate" % wb,
            "account  required  {unix}",
            "session  required  {unix}",
            "session  optional  %s" % wb])
        # name=, format= and debug, end to end.
        cls.pam.add("login-fmt", [
            "auth     requisite {unix}",
            "auth     optional  %s use_first_pass name=corp format=WINRMTEST\\%%u debug" % wb,
            "account  required  {unix}",
            "session  required  {unix}",
            "session  optional  %s name=corp debug" % wb])
        cls.pam.add("ttl", [
            "auth     requisite {unix}",
            "auth     optional  %s use_first_pass domain=WINRMTEST ttl=2" % wb,
            "account  required  {unix}",
            "session  required  {unix}",
            "session  optional  %s" % wb])
        cls.pam.add("ttl1", [
            "auth     requisite {unix}",
            "auth     optional  %s use_first_pass domain=WINRMTEST ttl=1" % wb,
            "account  required  {unix}",
            "session  required  {unix}",
            "session  optional  %s" % wb])
        # The module asks for the password (and the KDC checks it) before
        # pam_unix decides: it sees every attempt's password.
        cls.pam.add("retry", [
            "auth     optional  %s try_first_pass realm=WINRM.TEST validate" % wb,
            "auth     required  {unix} use_first_pass",
            "account  required  {unix}",
            "session  required  {unix}",
            "session  optional  %s" % wb])
        print("setup: %d local users, bed with their accounts, broker, PAM stacks: %.1f s"
              % (len(cls.users), time.monotonic() - t0))

    # -- helpers ---------------------------------------------------------------------
    def step(self, msg):
        print("  " + msg, flush=True)

    def pamtester(self, service, user, ops, answers=(), succeed=True, debug=1):
        """pamtester as root (as sshd or login would call PAM); succeed:
        whether it must exit 0 or must not."""
        res = self.pam.pamtester(service, user.name, ops, answers, debug=debug)
        self.step("pamtester %s %s %s -> exit %d" % (service, user.name, " ".join(ops),
                                                      res.returncode))
        if succeed:
            self.assertEqual(res.returncode, 0, res.stderr)
        else:
            self.assertNotEqual(res.returncode, 0, res.stderr)
        self.assertNotIn(user.password, res.stdout + res.stderr)
        self.assertNotRegex(res.stderr, SANITIZER_REPORT)
        return res

    def login(self, service, user, password=None):
        return self.pamtester(service, user, ["authenticate", "open_session"],
                              [password or user.password])

    def logout(self, service, user):
        return self.pamtester(service, user, ["close_session"])

    def run_login(self, user, transport="ntlm"):
        """winrm-broker run --cred login as the user (its uid, not root)."""
        return self.broker.cli("run", "--cred", "login", "--personal", "--port",
                               self.env["WINRM_HTTP_PORT"], "--scheme", "http", "-t", transport,
                               "-n", "localhost", "--", CMD, user=user)

    def assert_runs(self, user, transport="ntlm"):
        self.bed.new_events()
        res = self.run_login(user, transport)
        self.assertEqual((res.returncode, res.stdout), (0, CMD_OUT), res.stderr)
        events = self.bed.new_events()
        auths = [e for e in events if e["event"] == "auth"]
        self.assertTrue(auths, events)
        self.assertEqual({a["principal"].split("@")[0].split("\\")[-1] for a in auths},
                         {user.name}, auths)
        msgs = [e for e in events if e["event"] == "message" and e.get("action")]
        self.assertTrue(msgs and all(m["encrypted"] for m in msgs), msgs)
        self.step("run --cred login -t %s as %s: %r, the host saw %s" % (
            transport, user.name, res.stdout.decode().strip(),
            ", ".join(sorted({"%s as %s" % (a["mechanism"], a["principal"]) for a in auths}))))
        return auths, msgs

    def assert_refused(self, user, transport="ntlm", why=b"no credential 'login'"):
        self.bed.new_events()
        res = self.run_login(user, transport)
        self.assertEqual(res.returncode, EXIT_REFUSED, res.stdout + res.stderr)
        self.assertEqual(res.stdout, b"")
        if why:
            self.assertIn(why, res.stderr)
        self.assertEqual([e for e in self.bed.new_events() if e["event"] == "command"], [])
        self.step("run --cred login as %s refused: %s" % (user.name,
                                                         res.stderr.decode().strip()))
        return res

    def login_creds(self, user):
        """The user's `login` entries in `cred ls --json`, as the user sees them."""
        res = self.broker.cli("cred", "ls", "--json", user=user)
        self.assertEqual(res.returncode, 0, res.stderr)
        return [c for c in json.loads(res.stdout) if c["name"] == "login"]

    def sessions(self, user):
        creds = self.login_creds(user)
        return creds[0]["sessions"] if creds else 0

    def audit_since(self, n):
        return self.broker.audit()[n:]

    def audit_bytes(self):
        with open(self.broker.audit_path, "rb") as f:
            return f.read()

    def kdc_log(self):
        with open(self.env["WINRM_KDC_LOG"], errors="replace") as f:
            return f.read()

    # -- a. NTLM ---------------------------------------------------------------------
    def test_a_ntlm_login_run_logout(self):
        u = self.users["ntlm"]
        n_audit = len(self.broker.audit())
        self.assertEqual(self.login_creds(u), [])
        self.login("login-ntlm", u)
        creds = self.login_creds(u)
        self.assertEqual(len(creds), 1, creds)
        self.assertEqual((creds[0]["scope"], creds[0]["owner"], creds[0]["session"],
                          creds[0]["sessions"]), ("personal", u.uid, True, 1), creds)
        # No ttl=: brokerd.conf's session_max_ttl_sec (default 7 days) caps it.
        self.assertAlmostEqual(creds[0]["expires"], time.time() + 7 * 86400, delta=10)
        self.assertEqual((creds[0]["user"], creds[0]["domain"]), (u.name, "WINRMTEST"))
        self.step("cred ls as %s: %s" % (u.name, json.dumps(creds[0], sort_keys=True)))
        auths, msgs = self.assert_runs(u, "ntlm")
        self.assertEqual({(a["mechanism"], a["principal"]) for a in auths},
                         {("ntlm", "WINRMTEST\\" + u.name)})
        self.assertEqual({m["protocol"] for m in msgs}, {SPNEGO_PROTO})
        recs = self.audit_since(n_audit)
        runs = [r for r in recs if r.get("operation") == "run" and r.get("event") == "decision"]
        self.assertEqual([(r["decision"], r["uid"], r["cred"]) for r in runs],
                         [("allow", u.uid, "login")], runs)
        opens = [r for r in recs if r.get("operation") == "session-open"]
        self.assertTrue(opens and all(r.get("cred_owner") == u.uid for r in opens), recs)
        self.logout("login-ntlm", u)
        self.assertEqual(self.login_creds(u), [])
        self.assert_refused(u, "ntlm")
        closes = [r for r in self.audit_since(n_audit) if r.get("operation") == "session-close"]
        self.assertTrue(closes and all(r.get("cred_owner") == u.uid for r in closes))
        self.assertNotIn(u.password.encode(), self.audit_bytes())
        self.assertNotIn(u.password, self.broker.log())

    # -- b. Kerberos, validate -------------------------------------------------------
    def test_b_kerberos_validate(self):
        u = self.users["krb"]
        principal = "%s@%s" % (u.name, self.env["WINRM_REALM"])
        as_issued = "%s for krbtgt/" % principal
        n_as = self.kdc_log().count(as_issued)
        self.login("login-krb", u)
        log = self.kdc_log()
        self.assertGreater(log.count(as_issued), n_as,
                           "validate: no AS-REQ for %s in the KDC log" % principal)
        self.step("validate: the KDC issued a TGT to %s at login" % principal)
        n_as = self.kdc_log().count(as_issued)
        auths, msgs = self.assert_runs(u, "kerberos")
        self.step("the run after it cost %d more AS-REQ" % (self.kdc_log().count(as_issued) - n_as))
        self.assertEqual({(a["mechanism"], a["principal"]) for a in auths},
                         {("kerberos", principal)})
        self.assertEqual({m["protocol"] for m in msgs}, {KRB_PROTO})
        self.logout("login-krb", u)
        self.assertEqual(self.login_creds(u), [])
        self.assert_refused(u, "kerberos")

        # A wrong password with validate: the broker asks the KDC (the bed's
        # principals do not require preauthentication, so the KDC answers
        # with an AS-REP the wrong key cannot decrypt), nothing is kept,
        # though the (module-only) stack lets the login through.
        n_as = self.kdc_log().count(as_issued)
        res = self.login("validate-only", u, password="Wrong-" + u.password)
        self.assertGreater(self.kdc_log().count(as_issued), n_as)
        self.step("validate with a wrong password: the broker asked the KDC; "
                  "the module said: %s" % self.module_lines(res.stderr))
        self.assertEqual(self.login_creds(u), [])
        self.assert_refused(u, "kerberos")
        self.logout("validate-only", u)
        # The same stack with the right password keeps it: the refusal
        # above was the password's, not the stack's.
        self.login("validate-only", u)
        self.assert_runs(u, "kerberos")
        self.logout("validate-only", u)
        self.assertEqual(self.login_creds(u), [])

    @staticmethod
    def module_lines(stderr):
        """What PAM modules logged (pam_wrapper: "PWRAP_WARN[...] - SYSLOG(4): text")."""
        lines = [ln.split("): ", 1)[-1] for ln in stderr.splitlines() if "SYSLOG(" in ln]
        return " | ".join(lines) or "(nothing)"

    # -- c. reference count, failed logins --------------------------------------------
    def test_c_refcount_and_failed_login(self):
        u = self.users["refc"]
        self.login("login-ntlm", u)
        self.login("login-ntlm", u)
        creds = self.login_creds(u)
        self.assertEqual(len(creds), 1, creds)
        self.assertEqual(creds[0]["sessions"], 2, creds)
        self.step("two logins: one credential, 2 sessions")
        self.assert_runs(u)

        # The wrong password reaches the module (pam_unix is optional here),
        # the stack fails: no session open, the deposit is never bound.
        n_audit = len(self.broker.audit())
        res = self.pamtester("goes-on", u, ["authenticate", "open_session"],
                             ["Wrong-" + u.password], succeed=False)
        self.assertNotIn("successfully authenticated", res.stdout + res.stderr)
        deposits = [r for r in self.audit_since(n_audit) if r.get("event") == "decision"]
        self.assertEqual([(r["operation"], r["decision"], r.get("cred_owner")) for r in deposits],
                         [("session-deposit", "allow", u.uid)], deposits)
        self.step("a failed login with a wrong password: the module deposited it (audit: "
                  "session-deposit), the stack failed, nothing bound it")
        self.assertEqual(self.sessions(u), 2)
        self.assert_runs(u)
        # Even a session opened later by another handle (no deposit of its
        # own) binds to the working password, not the wrong one.
        self.pamtester("goes-on", u, ["open_session"])
        self.assertEqual(self.sessions(u), 3)
        self.assert_runs(u)
        self.logout("goes-on", u)
        self.assertEqual(self.sessions(u), 2)

        self.logout("login-ntlm", u)
        self.assertEqual(self.sessions(u), 1)
        self.step("one of two sessions closed")
        self.assert_runs(u)
        self.logout("login-ntlm", u)
        self.assertEqual(self.login_creds(u), [])
        self.assert_refused(u)
        # One close too many: nothing to release, the module stays quiet.
        self.logout("login-ntlm", u)

    # -- d. broker down, untrusted broker -------------------------------------------
    def stack_for(self, name, options, control="optional"):
        self.pam.add(name, [
            "auth     requisite {unix}",
            "auth     %-9s {wb} use_first_pass domain=WINRMTEST timeout=2 %s" % (control, options),
            "account  required  {unix}",
            "session  required  {unix}",
            "session  optional  {wb} timeout=2 %s" % options])

    def test_d_broker_down_login_succeeds(self):
        u = self.users["down"]
        missing = os.path.join(self.tmp, "no-such-dir", "broker.sock")
        self.stack_for("down", "socket=" + missing)
        t0 = time.monotonic()
        res = self.pamtester("down", u, ["authenticate", "open_session", "close_session"],
                             [u.password])
        self.assertLess(time.monotonic() - t0, 10)
        self.assertIn("successfully authenticated", res.stdout + res.stderr)
        self.assertIn(missing, res.stderr)
        self.step("broker down: login succeeded; the module logged: %s"
                  % self.module_lines(res.stderr))
        # A wrong password still fails: the module never decides a login.
        self.pamtester("down", u, ["authenticate"], ["Wrong-" + u.password], succeed=False)
        # A stale socket file nobody listens on (a crashed broker).
        stale = os.path.join(self.tmp, "stale.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(stale)
        s.close()
        self.stack_for("stale", "socket=" + stale)
        res = self.pamtester("stale", u, ["authenticate", "open_session", "close_session"],
                             [u.password])
        self.assertIn(stale, res.stderr)
        self.step("stale socket: login succeeded; the module logged: %s"
                  % self.module_lines(res.stderr))

    def test_d_broker_down_fail(self):
        u = self.users["down"]
        missing = os.path.join(self.tmp, "no-such-dir", "broker.sock")
        # required: an optional module's failure does not fail a stack that
        # another module (pam_unix) made succeed.
        self.stack_for("down-fail", "broker_down=fail socket=" + missing, control="required")
        res = self.pamtester("down-fail", u, ["authenticate"], [u.password], succeed=False)
        self.assertIn(missing, res.stderr)
        self.step("broker_down=fail: login refused; the module logged: %s"
                  % self.module_lines(res.stderr))

    def untrusted(self, name, owner, chown, module_opts):
        """A login through a stack whose socket= is a FakeBroker: the login
        succeeds; returns pamtester's result and what the fake received."""
        d = tempfile.mkdtemp(prefix="fake-", dir=self.tmp)
        os.chmod(d, 0o777)
        fake = FakeBroker(d, owner=owner)
        self.addCleanup(fake.stop)
        if chown is not None:
            os.chown(fake.path, chown, -1)
        self.step("fake broker: socket owned by uid %d, listener runs as %s"
                  % (os.stat(fake.path).st_uid, owner.name if owner else "root"))
        u = self.users["down"]
        self.stack_for(name, "socket=%s %s" % (fake.path, module_opts))
        t0 = time.monotonic()
        res = self.pamtester(name, u, ["authenticate", "open_session", "close_session"],
                             [u.password])
        self.took = time.monotonic() - t0
        self.assertIn("successfully authenticated", res.stdout + res.stderr)
        # The fake records a connection when it ends; pamtester has exited,
        # so every connection the module made is closed by now.
        wait_for(lambda: fake.received(), timeout=1)
        received = fake.received()
        self.step("module logged: %s; the fake received %s" % (
            self.module_lines(res.stderr),
            ["%d bytes, type 0x%s" % (len(r), r[4:6].hex()) if r else "a connection, 0 bytes"
             for r in received] or "nothing"))
        return res, received, fake

    def test_d_untrusted_socket_owner(self):
        # Owned by a user, though root listens: refused before a byte goes out.
        other = self.users["other"]
        res, received, fake = self.untrusted("untrusted-owner", None, other.uid, "")
        self.assertEqual(received, [])
        self.assertIn(fake.path, res.stderr)

    def test_d_untrusted_peer(self):
        # The socket file is root's, but a user holds the listening end
        # (SO_PEERCRED): the module may connect, but sends nothing.
        other = self.users["other"]
        res, received, fake = self.untrusted("untrusted-peer", other, 0, "")
        self.assertTrue(all(r == b"" for r in received), received)
        self.assertIn(fake.path, res.stderr)

    def test_d_trusted_by_configuration_but_hung(self):
        # The control for the two above: the same fake, with broker_user
        # naming its user, is trusted and gets the HELLO frame, so "nothing
        # received" above is the module's refusal, not a deaf fake. It
        # never answers: a hung broker, which costs the login at most
        # timeout=2 s per phase that talks to it (auth, open_session).
        other = self.users["other"]
        res, received, _ = self.untrusted("trusted-peer", other, None,
                                          "broker_user=%s" % other.name)
        self.assertTrue(received, "the trusted fake got no connection: " + res.stderr)
        for frame_bytes in received:
            self.assertGreaterEqual(len(frame_bytes), 8, frame_bytes)
            self.assertEqual(struct.unpack(">H", frame_bytes[4:6])[0], MSG_HELLO,
                             frame_bytes[:16].hex())
        self.step("a hung broker: the login took %.1f s" % self.took)
        self.assertLess(self.took, 2 * 2 + 2.5)

    # -- e. cross-uid ------------------------------------------------------------------
    def raw_as(self, user, frames):
        stdin = "".join(f.hex() + "\n" for f in frames)
        res = subprocess.run(["runuser", "-u", user.name, "--", "/usr/bin/python3", "-c",
                              RAW_CLIENT, self.sock], input=stdin, capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        return [json.loads(line) for line in res.stdout.splitlines()]

    def test_e_cross_uid_refused_and_audited(self):
        a, b = self.users["owner"], self.users["other"]
        self.login("login-ntlm", b)
        self.assert_runs(b)
        n_audit = len(self.broker.audit())
        hello = frame(MSG_HELLO, attr(A_VERSION, u32(1)), attr(A_CLIENT, b"pam-test"))
        deposit = frame(MSG_CRED_ADD, attr(A_CRED, b"login"), attr(A_SCOPE, u8(1)),
                        attr(A_KIND, u8(1)), attr(A_USER, a.name.encode()),
                        attr(A_DOMAIN, b"WINRMTEST"), attr(A_SECRET, a.password.encode()),
                        attr(A_SESSION, u8(1)), attr(A_OWNER, u32(b.uid)))
        update = frame(MSG_CRED_ADD, attr(A_CRED, b"login"), attr(A_SCOPE, u8(1)),
                       attr(A_KIND, u8(1)), attr(A_USER, a.name.encode()),
                       attr(A_DOMAIN, b"WINRMTEST"), attr(A_SECRET, a.password.encode()),
                       attr(A_SESSION, u8(2)), attr(A_OWNER, u32(b.uid)))
        bind = frame(MSG_CRED_SESSION, attr(A_CRED, b"login"), attr(A_SESSION_OP, u8(1)),
                     attr(A_OWNER, u32(b.uid)))
        release = frame(MSG_CRED_SESSION, attr(A_CRED, b"login"), attr(A_SESSION_OP, u8(2)),
                        attr(A_OWNER, u32(b.uid)))
        replies = self.raw_as(a, [hello, deposit, update, bind, release])
        self.assertEqual(replies[0]["type"], MSG_HELLO)
        for what, rep in zip(("deposit", "update", "bind", "release"), replies[1:]):
            code = attr_value(rep, A_ERROR_CODE)
            msg = (attr_value(rep, A_MESSAGE) or b"").decode()
            self.step("%s as uid %d for uid %d: %s" % (
                what, a.uid, b.uid, "ERROR %s (%s)" % (code and struct.unpack(">I", code)[0],
                                                      msg) if rep["type"] == MSG_ERROR
                else "type 0x%04x" % rep["type"]))
            self.assertEqual(rep["type"], MSG_ERROR, (what, rep))
            self.assertEqual(struct.unpack(">I", code)[0], E_DENIED, (what, msg))
        # The CLI way: cred add --owner as a user.
        res = self.broker.cli("cred", "add", "login", "--user", a.name, "--domain", "WINRMTEST",
                              "--owner", b.name, "--password-stdin", user=a,
                              input=(a.password + "\n").encode())
        self.assertNotEqual(res.returncode, 0)
        self.step("cred add login --owner %s as %s: exit %d: %s"
                  % (b.name, a.name, res.returncode, res.stderr.decode().strip()))

        recs = self.audit_since(n_audit)
        denies = [r for r in recs if r.get("event") == "decision" and r["decision"] == "deny"]
        for r in denies:
            self.step("audit: %s" % json.dumps({k: r.get(k) for k in (
                "operation", "decision", "uid", "user", "cred", "cred_owner", "rule")}))
        self.assertGreaterEqual(len(denies), 4, recs)
        for r in denies:
            self.assertEqual((r["uid"], r["user"], r.get("cred_owner"), r["cred"], r["rule"]),
                             (a.uid, a.name, b.uid, "login", "built-in: ownership"), r)
        ops = {r["operation"] for r in denies}
        self.assertTrue({"session-open", "session-close"} <= ops, ops)
        self.assertTrue(ops & {"session-deposit", "cred-add"}, ops)
        self.assertFalse([r for r in recs if r.get("event") == "decision" and
                          r["decision"] == "allow"], recs)
        self.assertNotIn(a.password.encode(), self.audit_bytes())
        # B's credential is untouched: one session, B's own password.
        self.assertEqual(len(self.login_creds(b)), 1)
        self.assertEqual(self.login_creds(a), [])
        self.assert_runs(b)
        self.logout("login-ntlm", b)
        self.assertEqual(self.login_creds(b), [])

    # -- f. TTL -------------------------------------------------------------------------
    def test_f_ttl(self):
        u = self.users["ttl"]
        self.login("ttl", u)
        t_open = time.monotonic()
        creds = self.login_creds(u)
        self.assertEqual(len(creds), 1, creds)
        self.assertAlmostEqual(creds[0]["expires"], time.time() + 2, delta=2)
        self.assert_runs(u)
        gone = wait_for(lambda: self.login_creds(u) == [], timeout=8, step=0.2)
        elapsed = time.monotonic() - t_open
        self.assertTrue(gone, "the ttl=2 credential is still there after 8 s")
        self.assertGreater(elapsed, 1.5)
        self.step("ttl=2: gone %.1f s after the session opened (the session still open)"
                  % elapsed)
        self.assert_refused(u)
        recs = [r for r in self.broker.audit() if r.get("cred_owner") == u.uid and
                r.get("event") == "decision"]
        opened = [r for r in recs if r["operation"] == "session-open"]
        expired = [r for r in recs if r["operation"] == "session-expire"]
        self.assertEqual((len(opened), len(expired)), (1, 1), recs)
        self.assertEqual((expired[0]["uid"], expired[0]["decision"]), (0, "allow"))
        self.assertIn("TTL", expired[0]["reason"])
        lived = stamp(expired[0]["time"]) - stamp(opened[0]["time"])
        self.step("audit: session-open to session-expire %.2f s (%s)"
                  % (lived, expired[0]["reason"]))
        # The broker counts whole seconds: a TTL of n lasts n to n+1 s.
        self.assertGreater(lived, 2.0)
        self.assertLess(lived, 5.0)
        self.logout("ttl", u)

    # -- h. a deposit that no session binds ------------------------------------------
    def test_h_unbound_deposit_is_wiped(self):
        u = self.users["unbound"]
        n = len(self.broker.audit())
        t0 = time.monotonic()
        self.pamtester("login-ntlm", u, ["authenticate"], [u.password])
        self.assertEqual(self.login_creds(u), [])  # pending: not usable, not listed
        self.assert_refused(u)

        def wiped():
            return [r for r in self.audit_since(n) if r.get("cred_owner") == u.uid and
                    r.get("operation") == "session-expire" and r.get("event") == "decision"]
        self.assertTrue(wait_for(wiped, timeout=BIND_TIMEOUT + 5, step=0.2),
                        self.audit_since(n))
        elapsed = time.monotonic() - t0
        self.assertIn("no session bound", wiped()[0]["reason"])
        self.assertGreater(elapsed, BIND_TIMEOUT - 0.5)
        self.step("an authentication without a session: its deposit wiped after %.1f s "
                  "(session_bind_timeout_sec = %d): %s" % (elapsed, BIND_TIMEOUT,
                                                           wiped()[0]["reason"]))
        # A later session open of another PAM transaction has no token and
        # nothing active to bind to.
        self.pamtester("login-ntlm", u, ["open_session", "close_session"])
        self.assertEqual(self.login_creds(u), [])
        self.assert_refused(u)

    # -- i. CredSSP double hop with the login password --------------------------------
    def test_i_delegate_credssp(self):
        u = self.users["hop"]
        # Without `delegate` the broker refuses CredSSP before any I/O.
        self.login("login-ntlm", u)
        self.bed.new_events()
        res = self.run_login(u, "credssp")
        self.assertEqual(res.returncode, EXIT_REFUSED, res.stdout + res.stderr)
        self.assertIn(b"delegat", res.stderr)
        self.assertEqual([e for e in self.bed.new_events() if e["event"] == "credssp_delegated"],
                         [])
        self.step("no delegate option: CredSSP refused: %s" % res.stderr.decode().strip())
        self.logout("login-ntlm", u)
        # With it, the host receives exactly the login password, once per connection.
        self.login("login-hop", u)
        self.assertTrue(self.login_creds(u)[0]["delegate"])
        auths, _ = self.assert_runs(u, "credssp")
        delegated = [e for e in self.bed.log() if e["event"] == "credssp_delegated" and
                     e["user"] == u.name]
        self.assertEqual(len(delegated), len(auths))
        self.assertEqual({(d["domain"], d["password"]) for d in delegated},
                         {("WINRMTEST", u.password)})
        self.step("delegate: CredSSP handed the host %s\\%s and the login password"
                  % ("WINRMTEST", u.name))
        self.logout("login-hop", u)
        self.assert_refused(u, "credssp")

    # -- m. name=, format=, debug ------------------------------------------------------
    def test_m_name_format_debug(self):
        u = self.users["fmt"]
        res = self.pamtester("login-fmt", u, ["authenticate", "open_session"], [u.password],
                             debug=2)
        # debug: one line per step at LOG_DEBUG, never the password.
        self.assertIn("deposited session credential 'corp' for %s" % u.name, res.stderr)
        self.assertIn("bound session credential 'corp' of %s" % u.name, res.stderr)
        self.step("debug lines: %s" % " | ".join(
            l.split("pam_winrm_broker")[-1].strip() for l in res.stderr.splitlines()
            if "credential 'corp'" in l))
        res = self.broker.cli("cred", "ls", "--json", user=u)
        creds = [c for c in json.loads(res.stdout) if c.get("session")]
        self.assertEqual([(c["name"], c["domain"], c["user"]) for c in creds],
                         [("corp", "WINRMTEST", u.name)], creds)
        self.bed.new_events()
        run = self.broker.cli("run", "--cred", "corp", "--personal", "--port",
                              self.env["WINRM_HTTP_PORT"], "--scheme", "http", "-t", "ntlm",
                              "-n", "localhost", "--", CMD, user=u)
        self.assertEqual((run.returncode, run.stdout), (0, CMD_OUT), run.stderr)
        auths = [e for e in self.bed.new_events() if e["event"] == "auth"]
        self.assertEqual({a["principal"] for a in auths}, {"WINRMTEST\\" + u.name}, auths)
        self.step("format=WINRMTEST\\%%u name=corp: the host saw %s" % auths[0]["principal"])
        self.pamtester("login-fmt", u, ["close_session"])
        self.assertEqual([c for c in self.login_creds(u) if c], [])
        res = self.broker.cli("cred", "ls", "--json", user=u)
        self.assertEqual([c for c in json.loads(res.stdout) if c["name"] == "corp"], [])

    # -- g. password change ----------------------------------------------------------
    def test_g_password_change(self):
        u = self.users["chpw"]
        self.login("login-ntlm", u)
        self.assert_runs(u)
        new = "Pw-new-" + os.urandom(6).hex()
        # The domain password changes first (as when the user changed it
        # on Windows): the stored one is now wrong.
        self.bed.passwd(u.name, new)
        self.step("bed: %s's Windows password changed" % u.name)
        self.assert_refused(u, why=b"")
        res = self.pamtester("login-ntlm", u, ["chauthtok"], [new, new])
        self.assertIn("altered successfully", res.stdout + res.stderr)
        self.assertEqual(self.module_lines(res.stderr), "(nothing)")
        u.password, old = new, u.password
        auths, _ = self.assert_runs(u)
        # Same account, same session: only the password changed.
        self.assertEqual({a["principal"] for a in auths}, {"WINRMTEST\\" + u.name})
        creds = self.login_creds(u)
        self.assertEqual([(c["user"], c["domain"], c["sessions"]) for c in creds],
                         [(u.name, "WINRMTEST", 1)])
        # pam_unix changed the Linux password too.
        self.pamtester("login-ntlm", u, ["authenticate"], [old], succeed=False)
        self.pamtester("login-ntlm", u, ["authenticate"], [new])
        self.logout("login-ntlm", u)
        self.assertEqual(self.login_creds(u), [])
        # No session credential: chauthtok changes the Linux password only.
        newer = "Pw-newer-" + os.urandom(6).hex()
        self.pamtester("login-ntlm", u, ["chauthtok"], [newer, newer])
        u.password = newer
        self.assertEqual(self.login_creds(u), [])

    # -- pam_driver: PAM calls on one handle ------------------------------------------
    def driver(self, service, user):
        d = self.pam.driver(service, user.name)
        self.addCleanup(d.end)
        return d

    def driver_call(self, d, what, answers=(), want=0):
        code = d.call(what, answers)
        self.step("one handle: %s -> %d" % (what, code))
        if want is not None:
            self.assertEqual(code, want, what)
        return code

    def driver_end(self, d, user):
        stderr = d.end()
        self.assertNotRegex(stderr, SANITIZER_REPORT)
        for pw in (user.password, getattr(user, "linux_password", user.password)):
            self.assertNotIn(pw, stderr)
        return stderr

    def outcomes(self, recs, operation, user):
        return [r for r in recs if r.get("event") == "outcome" and
                r.get("operation") == operation and r.get("cred_owner") == user.uid]

    # -- j. a late logout never ends a newer login ----------------------------------
    def test_j_stale_logout_keeps_newer_login(self):
        u = self.users["stale"]
        a = self.driver("ttl1", u)
        self.driver_call(a, "authenticate", [u.password])
        self.driver_call(a, "open_session")
        self.assertEqual(self.sessions(u), 1)
        self.assertTrue(wait_for(lambda: self.login_creds(u) == [], timeout=8, step=0.2))
        self.step("login A (ttl=1): its credential expired while A's session is open")
        self.login("login-ntlm", u)
        self.assertEqual(self.sessions(u), 1)
        self.step("login B (no TTL): a new credential, 1 session")
        n_audit = len(self.broker.audit())
        self.driver_call(a, "close_session")
        self.driver_end(a, u)
        self.assertEqual(self.sessions(u), 1)
        self.assert_runs(u)
        closes = self.outcomes(self.audit_since(n_audit), "session-close", u)
        self.assertEqual([(r["uid"], r.get("error_code")) for r in closes], [(0, 6)], closes)
        self.step("A's logout: the broker held no session of A's id (audit: %s); B's "
                  "credential still works, 1 session" % closes[0].get("error"))

        # The control: a login C on one handle while B's session is open
        # releases exactly its own session.
        c = self.driver("login-ntlm", u)
        self.driver_call(c, "authenticate", [u.password])
        self.driver_call(c, "open_session")
        self.assertEqual(self.sessions(u), 2)
        self.driver_call(c, "close_session")
        self.driver_end(c, u)
        self.assertEqual(self.sessions(u), 1)
        self.assert_runs(u)
        self.step("login C opened and closed on one handle: B's session remains")
        self.logout("login-ntlm", u)   # B, from another process: by count
        self.assertEqual(self.login_creds(u), [])

    # -- k. an expired password changed during the login --------------------------
    def expired_login(self, user, old, new):
        """auth, acct_mgmt (pam_unix: expired), chauthtok, open_session on
        one handle, after the domain changed the password to new. Returns
        the driver, its session open."""
        subprocess.run(["chage", "-d", "0", user.name], check=True, capture_output=True)
        self.bed.passwd(user.name, new)
        d = self.driver("login-ntlm", user)
        self.driver_call(d, "authenticate", [old])
        self.driver_call(d, "acct_mgmt", want=12)   # PAM_NEW_AUTHTOK_REQD
        self.driver_call(d, "chauthtok_expired", [old, new, new])
        self.driver_call(d, "open_session")
        return d

    def test_k_password_changed_at_login(self):
        u = self.users["expired"]
        new = "Pw-exp-" + os.urandom(6).hex()
        n_audit = len(self.broker.audit())
        d = self.expired_login(u, u.password, new)
        u.password = new
        self.assert_runs(u)
        self.assertEqual(self.sessions(u), 1)
        updates = self.outcomes(self.audit_since(n_audit), "session-update", u)
        self.assertEqual([r.get("error_code") for r in updates], [None], updates)
        self.step("expired password changed at login: the session opened with the new one")
        self.driver_call(d, "close_session")
        self.driver_end(d, u)
        self.assertEqual(self.login_creds(u), [])

        # Another session is open with the old password: the change goes
        # to this login's deposit, and binding it makes the new one active.
        self.login("login-ntlm", u)
        self.assert_runs(u)
        newer = "Pw-exp2-" + os.urandom(6).hex()
        d = self.expired_login(u, u.password, newer)
        u.password = newer
        self.assertEqual(self.sessions(u), 2)
        self.assert_runs(u)
        self.step("the same with another session open: both sessions use the new password")
        self.driver_call(d, "close_session")
        self.driver_end(d, u)
        self.assertEqual(self.sessions(u), 1)
        self.logout("login-ntlm", u)
        self.assertEqual(self.login_creds(u), [])

    # -- l. a second attempt on the same handle ------------------------------------
    def test_l_failed_attempt_deposit_not_bound(self):
        u = self.users["retry"]
        n_audit = len(self.broker.audit())
        d = self.driver("retry", u)
        # The Windows password: the KDC takes it, the module deposits it,
        # pam_unix refuses it (not the Linux password).
        self.driver_call(d, "authenticate", [u.password], want=7)   # PAM_AUTH_ERR
        # The Linux password: pam_unix takes it; the KDC refuses it, so
        # this attempt deposits nothing.
        self.driver_call(d, "authenticate", [u.linux_password])
        self.driver_call(d, "open_session")
        self.driver_call(d, "close_session")
        stderr = self.driver_end(d, u)
        self.step("module: %s" % self.module_lines(stderr))
        recs = self.audit_since(n_audit)
        deposits = self.outcomes(recs, "session-deposit", u)
        self.assertEqual([r.get("error_code") for r in deposits], [None, 12], deposits)
        opens = self.outcomes(recs, "session-open", u)
        self.assertEqual([r.get("error_code") for r in opens], [6], opens)
        self.assertEqual(self.login_creds(u), [])
        self.assert_refused(u)
        self.step("attempt 1's deposit (a password pam_unix refused) was not bound; the "
                  "session found no credential")

    def test_zz_clean_exit(self):
        # Last: no credential of any test user left, and a clean SIGTERM
        # (in the sanitizer build: LeakSanitizer's check of all of the above).
        for key, u in self.users.items():
            self.assertEqual(self.login_creds(u), [], key)
        self.assertEqual(self.broker.stop(), 0, self.broker.log()[-3000:])
        self.assertNotIn("LeakSanitizer", self.broker.log())
        for u in self.users.values():
            self.assertNotIn(u.password, self.broker.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
