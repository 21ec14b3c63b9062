#!/usr/bin/python3
"""Go masterzen/winrm (Debian's 2020 snapshot) against the WinRM test host.

tests/clients/go/main.go is built offline into a temporary directory. The Go
library has Basic, client-certificate and NTLM (go-ntlmssp) authentication but
no message encryption, so NTLM over HTTP must be refused unless the test host
runs with allow_unencrypted (Windows: AllowUnencrypted=false by default).

Run: /usr/bin/python3 tests/integration/test_go_winrm.py
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bedfixture import TOP, BedTestCase  # noqa: E402

GO_MAIN = os.path.join(TOP, "tests", "clients", "go", "main.go")
RUN = "echo hello out; echo hello err >&2; exit 3"
# Windows refuses a plaintext body on HTTP (AllowUnencrypted=false) with 401
# when it rides on the request that completes NTLM, as go-ntlmssp sends it
# (packer#6205), and with 500 after authentication (pywinrm#129, #208).
REFUSE_PLAIN = (401, 500)


def build_client(tmp):
    """go build, offline, with Debian's packaged sources only."""
    exe = os.path.join(tmp, "winrm-go-client")
    env = dict(os.environ, GOPATH="/usr/share/gocode", GO111MODULE="off", GOPROXY="off",
               GOFLAGS="", GOCACHE=os.path.join(tmp, "gocache"), HOME=tmp)
    res = subprocess.run(["go", "build", "-o", exe, GO_MAIN], env=env, cwd=tmp,
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError("go build failed:\n" + res.stderr + res.stdout)
    return exe


class GoWinrmTest(BedTestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="winrm-go-")
        try:
            cls.exe = build_client(cls.tmp)
            super().setUpClass()
        except Exception:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def go(self, auth, https, cmd=RUN, stdin="", cacert=None, timeout="PT10S"):
        env = self.bed.env
        user = env["WINRM_USER"]
        if auth == "ntlm":
            user = "%s\\%s" % (env["WINRM_DOMAIN"], user)
        port = env["WINRM_HTTPS_PORT" if https else "WINRM_HTTP_PORT"]
        args = [self.exe, "-host", env["WINRM_HOST"], "-port", port, "-auth", auth,
                "-user", user, "-cmd", cmd, "-stdin", stdin, "-timeout", timeout]
        if https:
            args += ["-https", "-cacert", cacert or env["WINRM_CA_CERT"]]
        if auth == "cert":
            args += ["-cert", env["WINRM_CLIENT_CERT"], "-key", env["WINRM_CLIENT_KEY"]]
        penv = self.bed.proc_env(GO_WINRM_PASSWORD=env["WINRM_PASSWORD"])
        res = subprocess.run(args, env=penv, capture_output=True, text=True, timeout=40)
        self.assertEqual(res.returncode, 0, res.stderr)
        return json.loads(res.stdout)

    def assert_ran(self, out):
        self.assertEqual(out["error"], "")
        self.assertEqual((out["stdout"], out["stderr"], out["exit_code"]),
                         ("hello out\n", "hello err\n", 3))

    @staticmethod
    def of(evs, name):
        # Events of the HTTP layer (they carry the connection id).
        return [e for e in evs if e.get("event") == name and "conn" in e]

    # -- Basic ------------------------------------------------------------------------
    def test_basic_https(self):
        self.events()
        self.assert_ran(self.go("basic", True))
        evs = self.events()
        auths, msgs = self.of(evs, "auth"), self.of(evs, "message")
        self.assertGreaterEqual(len(msgs), 4)   # Create, Command, Receive..., Delete
        self.assertEqual(len(auths), len(msgs))  # Basic is checked on every request
        for a in auths:
            self.assertEqual((a["mechanism"], a["principal"], a["tls"]), ("basic", "alice", True))
        for m in msgs:
            self.assertEqual((m["encrypted"], m["tls"]), (False, True), m)

    def test_basic_https_stdin(self):
        out = self.go("basic", True, cmd="tr a-z A-Z", stdin="abc\ndef\n")
        self.assertEqual(out["error"], "")
        self.assertEqual((out["stdout"], out["exit_code"]), ("ABC\nDEF\n", 0))

    def test_basic_https_untrusted_server(self):
        # The client certificate is no CA: the server's chain cannot verify.
        self.events()
        out = self.go("basic", True, cacert=self.bed.env["WINRM_CLIENT_CERT"])
        self.assertIn("certificate", out["error"])
        self.assertEqual(out["stdout"], "")
        self.assertFalse(self.of(self.events(), "message"))

    def test_basic_https_receive_timeout(self):
        # masterzen/winrm retries a Receive whose fault text mentions
        # "OperationTimeout", as Windows' w:TimedOut reason does.
        self.events()
        out = self.go("basic", True, cmd="sleep 2.5; echo late", timeout="PT1S")
        self.assertEqual(out["error"], "")
        self.assertEqual((out["stdout"], out["exit_code"]), ("late\n", 0))
        faults = [e for e in self.events() if e.get("event") == "fault"]
        self.assertTrue(faults)
        self.assertEqual({f["code"] for f in faults}, {2150858793})

    # -- client certificate -----------------------------------------------------------
    def test_certificate_https(self):
        self.events()
        self.assert_ran(self.go("cert", True))
        auths = self.of(self.events(), "auth")
        self.assertGreaterEqual(len(auths), 4)
        for a in auths:
            self.assertEqual((a["mechanism"], a["principal"]), ("certificate", "alice"), a)

    # -- NTLM -------------------------------------------------------------------------
    def test_ntlm_https(self):
        self.events()
        self.assert_ran(self.go("ntlm", True))
        evs = self.events()
        auths = self.of(evs, "auth")
        self.assertGreaterEqual(len(auths), 1)
        for a in auths:
            self.assertEqual((a["mechanism"], a["principal"], a["tls"]),
                             ("ntlm", "WINRMTEST\\alice", True), a)
        msgs = self.of(evs, "message")
        self.assertGreaterEqual(len(msgs), 4)
        for m in msgs:
            self.assertEqual((m["mechanism"], m["encrypted"], m["tls"]), ("ntlm", False, True), m)

    def test_ntlm_https_strict_cbt_refused(self):
        # go-ntlmssp sends no channel binding: CbtHardeningLevel=Strict refuses it.
        self.bed.set(strict_cbt=True)
        self.addCleanup(self.bed.set, strict_cbt=False)
        self.events()
        out = self.go("ntlm", True)
        self.assertEqual(out["stdout"], "")
        self.assertRegex(out["error"], r"http (?:response )?error:? 401\b")
        evs = self.events()
        self.assertFalse(self.of(evs, "auth"), evs)
        self.assertFalse(self.of(evs, "message"), evs)

    def test_ntlm_http_refused_when_unencrypted_not_allowed(self):
        self.events()
        out = self.go("ntlm", False)
        self.assertEqual(out["stdout"], "")
        m = re.search(r"http (?:response )?error:? (\d{3})", out["error"])
        self.assertIsNotNone(m, out["error"])
        self.assertIn(int(m.group(1)), REFUSE_PLAIN, out["error"])
        evs = self.events()
        self.assertTrue(self.of(evs, "refused") or self.of(evs, "auth_fail"), evs)
        self.assertFalse([e for e in evs if e.get("event") == "command"], evs)
        self.assertFalse([e for e in self.of(evs, "message") if e.get("status") == 200], evs)

    def test_ntlm_http_with_allow_unencrypted(self):
        self.bed.set(allow_unencrypted=True)
        self.addCleanup(self.bed.set, allow_unencrypted=False)
        self.events()
        self.assert_ran(self.go("ntlm", False))
        evs = self.events()
        auths = self.of(evs, "auth")
        self.assertGreaterEqual(len(auths), 1)
        for a in auths:
            self.assertEqual((a["mechanism"], a["principal"], a["tls"]),
                             ("ntlm", "WINRMTEST\\alice", False), a)
        msgs = self.of(evs, "message")
        self.assertGreaterEqual(len(msgs), 4)
        for m in msgs:
            self.assertEqual((m["mechanism"], m["encrypted"], m["tls"]), ("ntlm", False, False), m)


if __name__ == "__main__":
    unittest.main(verbosity=2)
