#!/usr/bin/python3
"""Debian's python3-winrm (pywinrm 0.3.0) against the WinRM test host.

pywinrm is a client nobody on this project wrote: when it and the test host
disagree, the test host is suspect. Covers NTLM with message encryption over
HTTP, NTLM over HTTPS (channel binding), Basic and certificate auth over HTTPS
with CA validation, Kerberos (authentication only: Debian's pykerberos cannot
wrap), stdin, and a long output that must arrive in several Receives.

Run: /usr/bin/python3 tests/integration/test_pywinrm.py
"""
import atexit
import os
import shutil
import sys
import tempfile

# ntlm-auth calls hashlib.new('md4'), which OpenSSL 3 keeps in its legacy
# provider. OpenSSL reads OPENSSL_CONF once, when libcrypto starts, so it must
# be set before anything imports hashlib or ssl; it is removed again right after
# so that the bed (KDC, test host) runs with the system's OpenSSL settings.
SCRATCH = tempfile.mkdtemp(prefix="winrm-pywinrm-")
atexit.register(shutil.rmtree, SCRATCH, True)
OPENSSL_CONF = os.path.join(SCRATCH, "openssl.cnf")
with open(OPENSSL_CONF, "w") as f:
    f.write("openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
            "[provider_sect]\ndefault = default_sect\nlegacy = legacy_sect\n"
            "[default_sect]\nactivate = 1\n[legacy_sect]\nactivate = 1\n")
assert "_hashlib" not in sys.modules and "_ssl" not in sys.modules
os.environ["OPENSSL_CONF"] = OPENSSL_CONF
import hashlib  # noqa: E402
hashlib.new("md4", b"")
del os.environ["OPENSSL_CONF"]

import base64  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import unittest  # noqa: E402

import requests  # noqa: E402
import winrm  # noqa: E402
import xmltodict  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bedfixture import BedTestCase  # noqa: E402

CMD_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
SEND = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
RECEIVE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
SPNEGO_ENC = "application/HTTP-SPNEGO-session-encrypted"
ENCRYPTED_CT = 'multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"' % SPNEGO_ENC
# What the shell prints for `seq 1 40000`: about 229 KB, more than one
# 153600-byte envelope can carry once base64-encoded.
SEQ_N = 40000
SEQ_OUTPUT = "".join("%d\n" % i for i in range(1, SEQ_N + 1)).encode()


def send_stdin(protocol, shell_id, command_id, data, end=True):
    """A Send request through pywinrm's own SOAP header and send_message
    (0.3.0 has no send_command_input; this is what later versions send)."""
    req = {"env:Envelope": protocol._get_soap_header(
        resource_uri=CMD_URI, action=SEND, shell_id=shell_id)}
    stream = req["env:Envelope"].setdefault("env:Body", {}).setdefault(
        "rsp:Send", {}).setdefault("rsp:Stream", {})
    stream["@Name"] = "stdin"
    stream["@CommandId"] = command_id
    if end:
        stream["@End"] = "true"
    stream["#text"] = base64.b64encode(data).decode()
    protocol.send_message(xmltodict.unparse(req))


def record_http(transport):
    """Keep (status, Content-Type, body) of every HTTP response the transport's
    requests session receives: pywinrm itself accepts a plaintext answer to an
    encrypted request without complaint, so the test has to look."""
    transport.build_session()
    seen = []
    transport.session.hooks["response"].append(
        lambda r, *a, **kw: seen.append((r.status_code, r.headers.get("Content-Type"),
                                         r.content)))
    return seen


def record_responses(protocol):
    """Wrap the transport so each (decrypted) response body is kept."""
    seen = []
    inner = protocol.transport.send_message

    def spy(message):
        resp = inner(message)
        seen.append(resp)
        return resp
    protocol.transport.send_message = spy
    return seen


class PywinrmTest(BedTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.bed.env
        cls.password = env["WINRM_PASSWORD"]
        cls.ca = env["WINRM_CA_CERT"]
        # pykerberos runs in this process: point it at the bed's realm and a
        # ticket cache of this test's own.
        penv = cls.bed.proc_env()
        os.environ["KRB5_CONFIG"] = penv["KRB5_CONFIG"]
        os.environ["KRB5CCNAME"] = penv["KRB5CCNAME"]
        res = subprocess.run(["kinit", "%s@%s" % (env["WINRM_USER"], env["WINRM_REALM"])],
                             input=cls.password + "\n", env=penv, capture_output=True,
                             text=True, timeout=20)
        cls.kinit_error = None if res.returncode == 0 else (res.stderr or res.stdout)


    def session(self, https, transport, **kw):
        if transport == "ntlm":
            user = "%s\\%s" % (self.bed.env["WINRM_DOMAIN"], self.bed.env["WINRM_USER"])
        elif transport == "kerberos":
            user = "%s@%s" % (self.bed.env["WINRM_USER"], self.bed.env["WINRM_REALM"])
        else:
            user = self.bed.env["WINRM_USER"]
        if https:
            kw.setdefault("server_cert_validation", "validate")
            kw.setdefault("ca_trust_path", self.ca)
        kw.setdefault("read_timeout_sec", 30)
        kw.setdefault("operation_timeout_sec", 20)
        s = winrm.Session(self.bed.url(https), auth=(user, self.password),
                          transport=transport, **kw)
        self.addCleanup(self.close_session, s)
        return s

    @staticmethod
    def close_session(s):
        if s.protocol.transport.session is not None:
            s.protocol.transport.session.close()

    def messages(self, events):
        """SOAP messages (not the empty POST that finishes authentication)."""
        return [e for e in events if e.get("event") == "message" and e.get("bytes")]

    @staticmethod
    def auths(events):
        """Auth events of the HTTP layer (they carry the connection id)."""
        return [e for e in events if e.get("event") == "auth" and "conn" in e]

    def assert_one_auth(self, events, mechanism, principal, tls):
        auths = self.auths(events)
        self.assertEqual(len(auths), 1, auths)
        self.assertEqual(auths[0]["mechanism"], mechanism)
        self.assertEqual(auths[0]["principal"], principal)
        self.assertIs(auths[0]["tls"], tls)
        return auths[0]

    def assert_cmd_result(self, r):
        self.assertEqual(r.std_out, b"hello out\n")
        self.assertEqual(r.std_err, b"hello err\n")
        self.assertEqual(r.status_code, 3)

    RUN = "echo hello out; echo hello err >&2; exit 3"

    # -- NTLM ------------------------------------------------------------------
    def test_ntlm_encrypted_http(self):
        self.events()
        s = self.session(False, "ntlm")
        http = record_http(s.protocol.transport)
        r = s.run_cmd(self.RUN)
        self.assert_cmd_result(r)
        # Every answer with a body came back sealed, in Windows' framing.
        answers = [h for h in http if h[2]]
        self.assertGreaterEqual(len(answers), 5)
        for status, ctype, body in answers:
            self.assertEqual((status, ctype), (200, ENCRYPTED_CT))
            self.assertTrue(body.startswith(b"--Encrypted Boundary\r\n"), body[:60])
            self.assertTrue(body.endswith(b"--Encrypted Boundary--\r\n"), body[-60:])
        evs = self.events()
        self.assert_one_auth(evs, "ntlm", "WINRMTEST\\alice", False)
        msgs = self.messages(evs)
        # Create, Command, Receive (one or more), Signal, Delete.
        self.assertGreaterEqual(len(msgs), 5, msgs)
        for m in msgs:
            self.assertIs(m["encrypted"], True, m)
            self.assertEqual(m["mechanism"], "ntlm", m)
            self.assertEqual(m["protocol"], SPNEGO_ENC, m)
            self.assertEqual(m.get("status"), 200, m)
        cmds = [e for e in evs if e.get("event") == "command"]
        self.assertEqual(len(cmds), 1, cmds)
        self.assertIn("echo hello out", cmds[0]["command"] + " " +
                      " ".join(cmds[0].get("arguments") or []))

    def test_ntlm_arguments(self):
        # Command and Arguments make one command line, as cmd.exe receives it.
        r = self.session(False, "ntlm").run_cmd("printf", ["%s-%s", "a", "b"])
        self.assertEqual((r.std_out, r.std_err, r.status_code), (b"a-b", b"", 0))

    def test_ntlm_https_channel_binding(self):
        # requests-ntlm sends the tls-server-end-point binding over HTTPS.
        self.events()
        r = self.session(True, "ntlm").run_cmd(self.RUN)
        self.assert_cmd_result(r)
        evs = self.events()
        auth = self.assert_one_auth(evs, "ntlm", "WINRMTEST\\alice", True)
        self.assertIs(auth.get("cbt_seen"), True, auth)
        for m in self.messages(evs):
            self.assertIs(m["encrypted"], False, m)   # TLS protects it
            self.assertIs(m["tls"], True, m)

    def test_ntlm_https_strict_cbt(self):
        # CbtHardeningLevel=Strict: requests-ntlm's binding is enough...
        self.bed.set(strict_cbt=True)
        self.addCleanup(self.bed.set, strict_cbt=False)
        self.events()
        self.assert_cmd_result(self.session(True, "ntlm").run_cmd(self.RUN))
        auth = self.assert_one_auth(self.events(), "ntlm", "WINRMTEST\\alice", True)
        self.assertIs(auth.get("cbt_seen"), True, auth)
        # ...and without one the same credentials are rejected.
        with self.assertRaises(winrm.exceptions.InvalidCredentialsError):
            self.session(True, "ntlm", send_cbt=False).run_cmd("echo never")
        evs = self.events()
        self.assertFalse(self.auths(evs), evs)
        self.assertTrue([e for e in evs if e.get("event") == "auth_fail"], evs)

    def test_ntlm_stdin(self):
        p = self.session(False, "ntlm").protocol
        data = b"line one\nline two\n" * 500
        shell = p.open_shell()
        try:
            cid = p.run_command(shell, "tr a-z A-Z")
            send_stdin(p, shell, cid, data)
            out, err, code = p.get_command_output(shell, cid)
            p.cleanup_command(shell, cid)
        finally:
            p.close_shell(shell)
        self.assertEqual((out, err, code), (data.upper(), b"", 0))

    def test_ntlm_long_output_in_chunks(self):
        self.events()
        p = self.session(False, "ntlm").protocol
        seen = record_responses(p)
        shell = p.open_shell()
        try:
            cid = p.run_command(shell, "seq 1 %d" % SEQ_N)
            out, err, code = p.get_command_output(shell, cid)
            p.cleanup_command(shell, cid)
        finally:
            p.close_shell(shell)
        self.assertEqual(len(out), len(SEQ_OUTPUT))
        self.assertTrue(out == SEQ_OUTPUT, "output differs from seq 1 %d" % SEQ_N)
        self.assertEqual((err, code), (b"", 0))
        # pywinrm asks for MaxEnvelopeSize 153600: no response may be bigger,
        # so the output has to come in more than one Receive.
        self.assertLessEqual(max(len(s) for s in seen), p.max_env_sz)
        receives = [m for m in self.messages(self.events()) if m["action"] == RECEIVE]
        self.assertGreaterEqual(len(receives), 2, receives)
        for m in receives:
            self.assertIs(m["encrypted"], True, m)

    def test_ntlm_receive_timeout_is_retried(self):
        # No output within OperationTimeout (1 s): Windows answers the Receive
        # with fault 2150858793 (w:TimedOut), which pywinrm silently retries.
        self.events()
        s = self.session(False, "ntlm", operation_timeout_sec=1, read_timeout_sec=10)
        r = s.run_cmd("sleep 2.5; echo late")
        self.assertEqual((r.std_out, r.std_err, r.status_code), (b"late\n", b"", 0))
        evs = self.events()
        receives = [m for m in self.messages(evs) if m["action"] == RECEIVE]
        self.assertGreaterEqual(len(receives), 3, receives)
        self.assertGreaterEqual(len([m for m in receives if m["status"] == 500]), 2, receives)
        faults = [e for e in evs if e.get("event") == "fault"]
        self.assertTrue(faults, evs)
        for f in faults:
            self.assertEqual(f["code"], 2150858793, f)

    def test_ntlm_terminate_running_command(self):
        # Signal terminate ends a command that would otherwise run for a minute.
        p = self.session(False, "ntlm").protocol
        shell = p.open_shell()
        try:
            cid = p.run_command(shell, "sleep 60")
            start = time.monotonic()
            p.cleanup_command(shell, cid)
        finally:
            p.close_shell(shell)
        self.assertLess(time.monotonic() - start, 10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            exits = [e for e in self.bed.log() if e.get("event") == "command_exit"
                     and e.get("command_id") == cid]
            if exits:
                break
            time.sleep(0.05)
        self.assertTrue(exits, "the terminated command never exited")

    # -- Basic, certificate ----------------------------------------------------------
    def test_basic_https_validated(self):
        self.events()
        r = self.session(True, "basic").run_cmd(self.RUN)
        self.assert_cmd_result(r)
        evs = self.events()
        basics = self.auths(evs)
        # Basic is checked on every request: one auth event per message.
        msgs = self.messages(evs)
        self.assertGreaterEqual(len(msgs), 5)
        self.assertEqual(len(basics), len(msgs), evs)
        for a in basics:
            self.assertEqual((a["mechanism"], a["principal"], a["tls"]), ("basic", "alice", True))

    def test_https_without_our_ca_fails(self):
        # Proof that the CA check above is real: the system store does not
        # know the bed's CA, so validation must fail before anything is sent.
        s = self.session(True, "basic", ca_trust_path=None)
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
        os.environ.pop("CURL_CA_BUNDLE", None)
        with self.assertRaises(requests.exceptions.SSLError):
            s.run_cmd("echo never")

    def test_certificate_https(self):
        self.events()
        s = self.session(True, "certificate", cert_pem=self.bed.env["WINRM_CLIENT_CERT"],
                         cert_key_pem=self.bed.env["WINRM_CLIENT_KEY"])
        r = s.run_cmd(self.RUN)
        self.assert_cmd_result(r)
        evs = self.events()
        auths = self.auths(evs)
        self.assertGreaterEqual(len(auths), 5)
        for a in auths:
            self.assertEqual((a["mechanism"], a["principal"]), ("certificate", "alice"), a)
            self.assertEqual(a.get("upn"), "alice@localhost", a)

    # -- Kerberos --------------------------------------------------------------------
    def test_kerberos_https(self):
        self.assertIsNone(self.kinit_error, "kinit failed: %s" % self.kinit_error)
        self.events()
        r = self.session(True, "kerberos", message_encryption="never").run_cmd(self.RUN)
        self.assert_cmd_result(r)
        evs = self.events()
        self.assert_one_auth(evs, "kerberos", "alice@WINRM.TEST", True)
        msgs = self.messages(evs)
        self.assertGreaterEqual(len(msgs), 5)
        for m in msgs:
            self.assertEqual((m["mechanism"], m["encrypted"], m["tls"]),
                             ("kerberos", False, True), m)


if __name__ == "__main__":
    unittest.main(verbosity=2)
