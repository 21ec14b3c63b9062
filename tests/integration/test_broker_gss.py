#!/usr/bin/python3
"""winrm-brokerd with Kerberos, NTLM and Negotiate, end to end against the bed:
the real broker and CLI, a fresh unprivileged local user, shared password
credentials for alice@WINRM.TEST (Kerberos) and WINRMTEST\\alice (NTLM), runs
over HTTP (message encryption) and HTTPS (channel binding). The test host's
log proves the mechanism and the encryption; the KDC's log counts tickets."""
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bedfixture import Bed  # noqa: E402
from brokerfixture import Broker, LocalUser, is_root  # noqa: E402

KRB_PROTO = "application/HTTP-Kerberos-session-encrypted"
SPNEGO_PROTO = "application/HTTP-SPNEGO-session-encrypted"


@unittest.skipUnless(is_root(), "needs root: creates local users and runs the broker")
class BrokerGssTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed()
        cls.addClassCleanup(cls.bed.down)
        cls.env = cls.bed.env
        cls.user = LocalUser()
        cls.addClassCleanup(cls.user.drop)
        # The broker finds the realm through its krb5.conf, as it would find
        # /etc/krb5.conf; nothing else of Kerberos comes from its environment.
        os.environ["KRB5_CONFIG"] = cls.env["KRB5_CONFIG"]
        cls.broker = Broker(cls.env, host_section="allow_kerberos_delegation = yes\n"
                                                  "allow_disable_cbt = yes\n",
                            transports="kerberos, ntlm, negotiate, basic, certificate",
                            policy={"00-gss.conf": "[rule gss-open]\nusers = *\n"
                                    "credentials = *, personal\nhosts = *\n"
                                    "allow_kerberos_delegation = yes\n"})
        cls.addClassCleanup(cls.broker.remove)
        cls.broker.start()
        cls.outputs = []
        pw = (cls.env["WINRM_PASSWORD"] + "\n").encode()
        uid = str(cls.user.uid)
        realm, domain, user = cls.env["WINRM_REALM"], cls.env["WINRM_DOMAIN"], cls.env["WINRM_USER"]
        for name, args in (("krb", ["--user", "%s@%s" % (user, realm)]),
                           ("ntlm", ["--user", user, "--domain", domain]),
                           ("ntlm-only", ["--user", "%s\\%s" % (domain, user)]),
                           ("krb-deleg", ["--user", "%s@%s" % (user, realm), "--delegate"])):
            cls.ok(cls.cli("cred", "add", name, "--shared", *args, "--password-stdin",
                           "--allow-user", uid, input=pw))

    @classmethod
    def cli(cls, *args, **kw):
        res = cls.broker.cli(*args, **kw)
        cls.outputs += [res.stdout, res.stderr]
        return res

    @staticmethod
    def ok(res):
        if res.returncode != 0:
            raise AssertionError("exit %d: %s" % (res.returncode, res.stderr.decode()))
        return res

    def run_as(self, cred, transport, scheme, command, *extra):
        port = self.env["WINRM_HTTPS_PORT" if scheme == "https" else "WINRM_HTTP_PORT"]
        return self.cli("run", "--cred", cred, "--port", port, "--scheme", scheme,
                        "-t", transport, *extra, "-n", "localhost", "--", command,
                        user=self.user)

    @staticmethod
    def this_run(events):
        """The events of this run's connections. A run that ends while its
        stdin connection is still busy (End sent, the command already done)
        leaves that request to finish on the host after the run; the host
        numbers connections as it accepts them, so this run's are the one
        that carried its Create and those after it."""
        first = next((e["conn"] for e in events if e["event"] == "message" and
                      (e.get("action") or "").endswith("/transfer/Create")), None)
        if first is None:
            return []
        return [e for e in events if e.get("conn", first) >= first]

    def kdc_requests(self):
        with open(self.env["WINRM_KDC_LOG"], errors="replace") as f:
            text = f.read()
        return text.count("AS_REQ"), text.count("TGS_REQ")

    def test_runs_over_http_and_https(self):
        cases = (("kerberos", "krb", "kerberos", False, KRB_PROTO),
                 ("ntlm", "ntlm", "ntlm", False, SPNEGO_PROTO),
                 ("negotiate", "krb", "kerberos", True, SPNEGO_PROTO),
                 ("negotiate", "ntlm-only", "ntlm", True, SPNEGO_PROTO))
        for transport, cred, mech, spnego, proto in cases:
            for scheme in ("http", "https"):
                with self.subTest(transport=transport, cred=cred, scheme=scheme):
                    self.bed.new_events()
                    res = self.run_as(cred, transport, scheme,
                                      'echo "out from $(id -un)"; echo oops >&2; exit 5')
                    self.assertEqual(res.returncode, 5, res.stderr)
                    self.assertEqual(res.stdout, b"out from nobody\n")
                    self.assertEqual(res.stderr, b"oops\n")
                    events = self.this_run(self.bed.new_events())
                    auths = [e for e in events if e["event"] == "auth"]
                    msgs = [e for e in events if e["event"] == "message" and e.get("action")]
                    self.assertTrue(auths)
                    self.assertEqual({a["mechanism"] for a in auths}, {mech})
                    self.assertEqual({a["spnego"] for a in auths}, {spnego})
                    self.assertEqual({a["principal"].split("@")[0].split("\\")[-1]
                                      for a in auths}, {"alice"})
                    self.assertGreaterEqual(len(msgs), 4)
                    if scheme == "http":
                        self.assertTrue(all(m["encrypted"] for m in msgs), msgs)
                        self.assertEqual({m["protocol"] for m in msgs}, {proto})
                        self.assertEqual({a["cbt_seen"] for a in auths}, {None})
                    else:
                        self.assertFalse(any(m["encrypted"] for m in msgs))
                        self.assertEqual({a["cbt_seen"] for a in auths}, {True})
                    # One keep-alive connection for the shell's requests.
                    rx = {m["conn"] for m in msgs if not m["action"].endswith(("/Send",
                                                                               "/Signal"))}
                    self.assertEqual(len(rx), 1)
                    print("%-9s %-9s over %-5s: %s, %d auth(s), %d messages%s"
                          % (transport, cred, scheme, mech, len(auths), len(msgs),
                             ", all sealed" if scheme == "http" else ", channel bound"))

    def test_https_without_cbt_and_in_strict_mode(self):
        cases = (("kerberos", "krb", "kerberos"), ("ntlm", "ntlm", "ntlm"),
                 ("negotiate", "krb", "kerberos"), ("negotiate", "ntlm-only", "ntlm"))
        for transport, cred, mech in cases:
            with self.subTest(transport=transport, cred=cred, cbt=False):
                self.bed.new_events()
                res = self.run_as(cred, transport, "https", "echo no-cbt", "-o", "send_cbt=false")
                self.assertEqual((res.returncode, res.stdout), (0, b"no-cbt\n"), res.stderr)
                auths = [e for e in self.this_run(self.bed.new_events()) if e["event"] == "auth"]
                self.assertEqual({(a["mechanism"], a["cbt_seen"]) for a in auths}, {(mech, False)})
        self.bed.set(strict_cbt=True)
        try:
            for transport, cred, mech in cases:
                with self.subTest(transport=transport, cred=cred, strict=True):
                    self.bed.new_events()
                    res = self.run_as(cred, transport, "https", "echo strict")
                    self.assertEqual((res.returncode, res.stdout), (0, b"strict\n"), res.stderr)
                    auths = [e for e in self.this_run(self.bed.new_events())
                             if e["event"] == "auth"]
                    self.assertEqual({(a["mechanism"], a["cbt_seen"]) for a in auths},
                                     {(mech, True)})
                    res = self.run_as(cred, transport, "https", "echo refused",
                                      "-o", "send_cbt=false")
                    self.assertEqual(res.returncode, 255)
                    self.assertIn(b"send_cbt", res.stderr)
        finally:
            self.bed.set(strict_cbt=False)

    def test_json_names_the_transport(self):
        res = self.run_as("ntlm", "ntlm", "http", "exit 0", "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn(b'"transport":"ntlm"', res.stdout.replace(b" ", b""))

    def test_later_commands_cost_no_tickets(self):
        self.ok(self.run_as("krb", "kerberos", "http", "echo warm"))
        as0, tgs0 = self.kdc_requests()
        t0 = time.monotonic()
        for i in range(2, 11):
            res = self.run_as("krb", "kerberos", "http", "echo %d" % i)
            self.assertEqual(res.stdout, b"%d\n" % i, res.stderr)
            if i in (2, 10):
                as_n, tgs_n = self.kdc_requests()
                print("kerberos commands 2..%d through the broker: %d new AS-REQ, %d new "
                      "TGS-REQ" % (i, as_n - as0, tgs_n - tgs0))
                self.assertEqual((as_n - as0, tgs_n - tgs0), (0, 0))
        print("9 kerberos commands over http with encryption: %.2f s each"
              % ((time.monotonic() - t0) / 9))

    def test_delegation_needs_the_credential_flag(self):
        self.bed.new_events()
        res = self.run_as("krb", "kerberos", "https", "echo d", "-o", "kerberos_delegation=true")
        self.assertEqual(res.returncode, 255)
        self.assertIn(b"does not allow delegation", res.stderr)
        self.bed.new_events()
        res = self.run_as("krb-deleg", "kerberos", "https", "echo d",
                          "-o", "kerberos_delegation=true")
        self.assertEqual(res.returncode, 0, res.stderr)
        auths = [e for e in self.this_run(self.bed.new_events()) if e["event"] == "auth"]
        self.assertEqual({a["delegation"] for a in auths}, {True})
        res = self.run_as("krb-deleg", "kerberos", "https", "echo d")
        self.assertEqual(res.returncode, 0, res.stderr)
        auths = [e for e in self.this_run(self.bed.new_events()) if e["event"] == "auth"]
        self.assertEqual({a["delegation"] for a in auths}, {False})

    def test_cred_test_and_secrets(self):
        port = self.env["WINRM_HTTP_PORT"]
        for cred, transport in (("krb", "kerberos"), ("ntlm", "ntlm")):
            self.ok(self.cli("cred", "test", cred, "localhost", "--port", port,
                             "--scheme", "http", "--transport", transport))
        pw = self.env["WINRM_PASSWORD"].encode()
        for out in self.outputs:
            self.assertNotIn(pw, out)
        with open(self.broker.log_path, "rb") as f:
            self.assertNotIn(pw, f.read())
        with open("/proc/%d/environ" % self.broker.proc.pid, "rb") as f:
            self.assertNotIn(b"KRB5CCNAME", f.read())

    def test_wrong_password_is_named(self):
        self.ok(self.cli("cred", "add", "bad-krb", "--shared", "--user",
                         "alice@" + self.env["WINRM_REALM"], "--password-stdin",
                         "--allow-user", str(self.user.uid), input=b"wrong-password\n"))
        res = self.run_as("bad-krb", "kerberos", "http", "echo x")
        self.assertEqual(res.returncode, 255)
        self.assertIn(b"wrong password", res.stderr)
        # Replacing the credential drops its (failed) ticket state: the new one works.
        self.ok(self.cli("cred", "add", "bad-krb", "--shared", "--replace", "--user",
                         "alice@" + self.env["WINRM_REALM"], "--password-stdin",
                         "--allow-user", str(self.user.uid),
                         input=(self.env["WINRM_PASSWORD"] + "\n").encode()))
        self.ok(self.run_as("bad-krb", "kerberos", "http", "echo fixed"))

    def test_zz_clean_exit(self):
        # Last (name order): after all of the above, SIGTERM gives a clean
        # exit; in the sanitizer build that includes LeakSanitizer's check
        # of everything Kerberos and NTLM allocated.
        self.assertEqual(self.broker.stop(), 0, self.broker.log()[-3000:])
        self.assertNotIn("LeakSanitizer", self.broker.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
