#!/usr/bin/python3
"""winrm-brokerd with CredSSP, end to end against the bed: the real broker
and CLI, a fresh unprivileged local user, shared credentials stored with
--delegate, a policy rule that names credssp. The test host's log proves
which mechanism ran inside CredSSP and exactly what was delegated; without
--delegate, or without a rule naming credssp, nothing is delegated."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bedfixture import Bed  # noqa: E402
from brokerfixture import Broker, LocalUser, is_root  # noqa: E402

CREDSSP_PROTO = "application/HTTP-CredSSP-session-encrypted"
POLICY = {
    # credssp only for the hop-* credentials; the default transports
    # (all but credssp) for the others.
    "10-hop.conf": "[rule double-hop]\nusers = *\ncredentials = hop-*\nhosts = *\n"
                   "transports = credssp\n",
    "20-open.conf": "[rule open]\nusers = *\ncredentials = *\nhosts = *\n",
}


@unittest.skipUnless(is_root(), "needs root: creates local users and runs the broker")
class BrokerCredSSPTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed()
        cls.addClassCleanup(cls.bed.down)
        cls.env = cls.bed.env
        cls.user = LocalUser()
        cls.addClassCleanup(cls.user.drop)
        os.environ["KRB5_CONFIG"] = cls.env["KRB5_CONFIG"]
        cls.broker = Broker(cls.env, transports="credssp, ntlm, kerberos, negotiate",
                            policy=POLICY)
        cls.addClassCleanup(cls.broker.remove)
        cls.broker.start()
        pw = (cls.env["WINRM_PASSWORD"] + "\n").encode()
        uid = str(cls.user.uid)
        realm, domain, user = cls.env["WINRM_REALM"], cls.env["WINRM_DOMAIN"], cls.env["WINRM_USER"]
        for name, args in (("hop-ntlm", ["--user", "%s\\%s" % (domain, user), "--delegate"]),
                           ("hop-krb", ["--user", user, "--domain", realm, "--delegate"]),
                           ("hop-nodeleg", ["--user", "%s\\%s" % (domain, user)]),
                           ("other-deleg", ["--user", "%s\\%s" % (domain, user), "--delegate"])):
            cls.ok(cls.broker.cli("cred", "add", name, "--shared", *args, "--password-stdin",
                                  "--allow-user", uid, input=pw))

    @staticmethod
    def ok(res):
        if res.returncode != 0:
            raise AssertionError("exit %d: %s" % (res.returncode, res.stderr.decode()))
        return res

    def run_as(self, cred, scheme, command):
        port = self.env["WINRM_HTTPS_PORT" if scheme == "https" else "WINRM_HTTP_PORT"]
        return self.broker.cli("run", "--cred", cred, "--port", port, "--scheme", scheme,
                               "-t", "credssp", "-n", "localhost", "--", command,
                               user=self.user)

    def test_runs_delegate_exactly_the_stored_credential(self):
        cases = (("hop-ntlm", "credssp-ntlm", self.env["WINRM_DOMAIN"]),
                 ("hop-krb", "credssp-kerberos", self.env["WINRM_REALM"]))
        for cred, mech, domain in cases:
            for scheme in ("http", "https"):
                with self.subTest(cred=cred, scheme=scheme):
                    self.bed.new_events()
                    res = self.run_as(cred, scheme, 'echo "hop from $(id -un)"; exit 3')
                    self.assertEqual(res.returncode, 3, res.stderr)
                    self.assertEqual(res.stdout, b"hop from nobody\n")
                    events = self.bed.new_events()
                    auths = [e for e in events if e["event"] == "auth"]
                    delegated = [e for e in events if e["event"] == "credssp_delegated"]
                    msgs = [e for e in events if e["event"] == "message" and e.get("action")]
                    self.assertTrue(auths)
                    self.assertEqual({a["mechanism"] for a in auths}, {mech})
                    self.assertEqual({a["credssp_version"] for a in auths}, {6})
                    self.assertEqual(len(delegated), len(auths))
                    for d in delegated:
                        self.assertEqual((d["domain"], d["user"], d["password"]),
                                         (domain, self.env["WINRM_USER"],
                                          self.env["WINRM_PASSWORD"]))
                    if scheme == "http":
                        self.assertTrue(all(m["encrypted"] for m in msgs), msgs)
                        self.assertEqual({m["protocol"] for m in msgs}, {CREDSSP_PROTO})
                    print("credssp %-8s over %-5s: %s, %d auth(s), %d messages"
                          % (cred, scheme, mech, len(auths), len(msgs)))

    def test_no_delegation_flag_refused_before_any_io(self):
        self.bed.new_events()
        res = self.run_as("hop-nodeleg", "https", "echo x")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn(b"delegat", res.stderr)
        self.assertEqual(self.bed.new_events(), [])

    def test_policy_without_credssp_refused(self):
        self.bed.new_events()
        res = self.run_as("other-deleg", "https", "echo x")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn(b"credssp only when its transports names it", res.stderr)
        self.assertEqual([e for e in self.bed.new_events()
                          if e["event"].startswith("credssp")], [])
        print("policy without credssp: %s" % res.stderr.decode().strip())

    def test_zz_clean_exit(self):
        self.assertEqual(self.broker.stop(), 0, self.broker.log()[-3000:])
        self.assertNotIn("LeakSanitizer", self.broker.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
