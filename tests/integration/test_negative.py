#!/usr/bin/python3
"""What the WinRM test host must refuse, driven by clients nobody on this
project wrote (Debian's pywinrm 0.3.0 with requests-ntlm, and curl).

- a wrong password gets 401 (pywinrm NTLM, pywinrm Basic, curl Basic);
- a plaintext SOAP body on HTTP after Negotiate authentication is refused
  (AllowUnencrypted=false is Windows' default);
- an encrypted body whose sealed data or signature was altered is refused;
- a request for a ShellId the server does not know gets WS-Man fault
  2150858843 (w:InvalidSelectors).

Run: /usr/bin/python3 tests/integration/test_negative.py
"""
import atexit
import os
import shutil
import sys
import tempfile

# ntlm-auth calls hashlib.new('md4') (OpenSSL 3: legacy provider). OpenSSL
# reads OPENSSL_CONF once, when libcrypto starts: set it before hashlib or ssl
# load, then drop it so the bed runs with the system's OpenSSL settings.
SCRATCH = tempfile.mkdtemp(prefix="winrm-negative-")
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

import subprocess  # noqa: E402
import unittest  # noqa: E402
import uuid  # noqa: E402
import xml.etree.ElementTree as ET  # noqa: E402

import requests  # noqa: E402
import winrm  # noqa: E402
import xmltodict  # noqa: E402
from winrm.exceptions import (InvalidCredentialsError, WinRMError,  # noqa: E402
                              WinRMTransportError)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bedfixture import BedTestCase  # noqa: E402

CMD_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
RECEIVE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
NS = {"s": "http://www.w3.org/2003/05/soap-envelope",
      "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"}
OCTET = b"\tContent-Type: application/octet-stream\r\n"
ENCRYPTED_CT = ('multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";'
                'boundary="Encrypted Boundary"')
# Windows refuses a plaintext body on HTTP when AllowUnencrypted=false with
# HTTP 500 after authentication (pywinrm#129 Kerberos, pywinrm#208 and
# metasploit#8900 NTLM, winrm4j#151) and 401 when the body rides on the
# request that completes NTLM (packer#6205). Never 2xx, never 400.
REFUSE_PLAIN = (401, 500)


def create_envelope(protocol):
    """A Create (cmd shell) envelope, built the way pywinrm's open_shell does."""
    req = {"env:Envelope": protocol._get_soap_header(resource_uri=CMD_URI, action=CREATE)}
    req["env:Envelope"]["env:Header"]["w:OptionSet"] = {"w:Option": [
        {"@Name": "WINRS_NOPROFILE", "#text": "FALSE"},
        {"@Name": "WINRS_CODEPAGE", "#text": "437"}]}
    shell = req["env:Envelope"].setdefault("env:Body", {}).setdefault("rsp:Shell", {})
    shell["rsp:InputStreams"] = "stdin"
    shell["rsp:OutputStreams"] = "stdout stderr"
    return xmltodict.unparse(req).encode()


def receive_envelope(protocol, shell_id):
    req = {"env:Envelope": protocol._get_soap_header(resource_uri=CMD_URI, action=RECEIVE,
                                                     shell_id=shell_id)}
    stream = req["env:Envelope"].setdefault("env:Body", {}).setdefault(
        "rsp:Receive", {}).setdefault("rsp:DesiredStream", {})
    stream["@CommandId"] = str(uuid.uuid4()).upper()
    stream["#text"] = "stdout stderr"
    return xmltodict.unparse(req)


def send_raw(session, prepared):
    """Send on the session's pooled (authenticated) connection without
    requests-ntlm's 401 hook, which would silently authenticate again."""
    prepared.hooks = {"response": []}
    return session.send(prepared, timeout=30)


def seal_offsets(body):
    """(signature start, sealed data start) in a one-part encrypted body."""
    i = body.index(OCTET) + len(OCTET)
    sig_len = int.from_bytes(body[i:i + 4], "little")
    return i + 4, i + 4 + sig_len


class NegativeTest(BedTestCase):


    def protocol(self, https, transport, password=None, **kw):
        env = self.bed.env
        user = env["WINRM_USER"]
        if transport == "ntlm":
            user = "%s\\%s" % (env["WINRM_DOMAIN"], user)
        if https:
            kw.update(server_cert_validation="validate", ca_trust_path=env["WINRM_CA_CERT"])
        p = winrm.Protocol(self.bed.url(https), transport=transport, username=user,
                           password=password or env["WINRM_PASSWORD"],
                           read_timeout_sec=30, operation_timeout_sec=20, **kw)
        self.addCleanup(lambda: p.transport.session and p.transport.session.close())
        return p

    def encrypted_ntlm(self):
        """An NTLM-authenticated, encrypting pywinrm transport over HTTP whose
        connection has proven it works (one real shell opened and closed)."""
        p = self.protocol(False, "ntlm", message_encryption="always")
        shell = p.open_shell()
        p.close_shell(shell)
        self.assertIsNotNone(p.transport.encryption)
        return p

    def assert_refused(self, evs):
        refused = [e for e in evs if e.get("event") == "refused"]
        self.assertTrue(refused, "no 'refused' event in %s" % evs)
        ok = [e for e in evs if e.get("event") == "message" and e.get("status") == 200
              and e.get("bytes")]
        self.assertEqual(ok, [], "a refused request was still processed")
        self.assertFalse([e for e in evs if e.get("event") == "command"])

    # -- wrong password ----------------------------------------------------------
    def test_wrong_password_ntlm(self):
        self.events()
        p = self.protocol(False, "ntlm", password="not-" + self.bed.env["WINRM_PASSWORD"])
        with self.assertRaises(InvalidCredentialsError):
            p.open_shell()
        evs = self.events()
        self.assertTrue([e for e in evs if e.get("event") == "auth_fail"], evs)
        self.assertFalse([e for e in evs if e.get("event") in ("auth", "message")], evs)

    def test_wrong_password_basic(self):
        self.events()
        p = self.protocol(True, "basic", password="not-" + self.bed.env["WINRM_PASSWORD"])
        with self.assertRaises(InvalidCredentialsError):
            p.open_shell()
        evs = self.events()
        self.assertTrue([e for e in evs if e.get("event") == "auth_fail"], evs)
        self.assertFalse([e for e in evs if e.get("event") in ("auth", "message")], evs)

    def test_wrong_password_curl_basic(self):
        env = self.bed.env
        self.events()
        cfg = os.path.join(SCRATCH, "curl-wrong.cfg")
        # The credentials go in a config file, not argv.
        with open(cfg, "w") as f:
            f.write('user = "%s:not-%s"\n' % (env["WINRM_USER"], env["WINRM_PASSWORD"]))
        res = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--basic", "-K", cfg,
             "--cacert", env["WINRM_CA_CERT"], "-H", "Content-Type: application/soap+xml;"
             "charset=UTF-8", "--data-binary", "@-", self.bed.url(True)],
            input=create_envelope(self.protocol(True, "basic")), capture_output=True,
            timeout=20)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, b"401")
        evs = self.events()
        self.assertTrue([e for e in evs if e.get("event") == "auth_fail"], evs)
        self.assertFalse([e for e in evs if e.get("event") in ("auth", "message")], evs)

    # -- plaintext after Negotiate ------------------------------------------------------
    def test_plain_body_on_http_after_ntlm(self):
        p = self.encrypted_ntlm()
        self.events()
        req = requests.Request("POST", p.transport.endpoint, data=create_envelope(p))
        resp = send_raw(p.transport.session, p.transport.session.prepare_request(req))
        self.assertIn(resp.status_code, REFUSE_PLAIN, resp.text[:300])
        self.assertNotIn(b"ShellId", resp.content)
        self.assert_refused(self.events())

    def test_plain_body_on_http_after_kerberos(self):
        # Debian's pykerberos cannot wrap, so pywinrm's 'auto' quietly sends
        # plaintext on HTTP after Kerberos (pywinrm#129: Windows answers 500).
        env = self.bed.env
        kenv = self.bed.proc_env()
        res = subprocess.run(["kinit", "%s@%s" % (env["WINRM_USER"], env["WINRM_REALM"])],
                             input=env["WINRM_PASSWORD"] + "\n", env=kenv,
                             capture_output=True, text=True, timeout=20)
        self.assertEqual(res.returncode, 0, res.stderr)
        os.environ["KRB5_CONFIG"], os.environ["KRB5CCNAME"] = \
            kenv["KRB5_CONFIG"], kenv["KRB5CCNAME"]
        p = winrm.Protocol(self.bed.url(False), transport="kerberos",
                           username="%s@%s" % (env["WINRM_USER"], env["WINRM_REALM"]),
                           message_encryption="auto", read_timeout_sec=30,
                           operation_timeout_sec=20)
        p.transport.build_session()
        self.addCleanup(p.transport.session.close)
        self.assertIsNone(p.transport.encryption)
        http = []
        p.transport.session.hooks["response"].append(
            lambda r, *a, **kw: http.append(r.status_code))
        self.events()
        with self.assertRaises((WinRMError, WinRMTransportError)):
            p.open_shell()
        self.assertEqual(len(http), 1, http)
        self.assertEqual(http[0], 500)
        self.assert_refused(self.events())

    # -- tampered encrypted bodies ------------------------------------------------------
    def tampered(self, which):
        p = self.encrypted_ntlm()
        self.events()
        s = p.transport.session
        prepared = p.transport.encryption.prepare_encrypted_request(
            s, p.transport.endpoint, create_envelope(p))
        body = bytearray(prepared.body)
        sig, sealed = seal_offsets(body)
        # NTLM signature: version (4), checksum (8), sequence number (4).
        body[sealed + 10 if which == "sealed" else sig + 6] ^= 0x01
        prepared.body = bytes(body)
        resp = send_raw(s, prepared)
        self.assertNotEqual(resp.status_code // 100, 2, resp.status_code)
        self.assertNotIn(b"ShellId", resp.content)
        self.assert_refused(self.events())

    def test_tampered_sealed_data(self):
        self.tampered("sealed")

    def test_tampered_signature(self):
        self.tampered("signature")

    # -- unknown ShellId ------------------------------------------------------------
    def test_unknown_shell_id(self):
        p = self.encrypted_ntlm()
        bogus = str(uuid.uuid4()).upper()
        # pywinrm turns the SOAP fault into WinRMError with the fault data.
        with self.assertRaises(WinRMError) as cm:
            p.get_command_output(bogus, str(uuid.uuid4()).upper())
        self.assertIn("'wsmanfault_code': '2150858843'", str(cm.exception))
        self.assertIn("'fault_subcode': 'w:InvalidSelectors'", str(cm.exception))
        self.assertIn("'http_status_code': 500", str(cm.exception))
        # The same through the transport alone: the decrypted fault itself,
        # which Windows seals like any other answer on an encrypted session.
        http = []
        p.transport.session.hooks["response"].append(
            lambda r, *a, **kw: http.append((r.status_code, r.headers.get("Content-Type"))))
        with self.assertRaises(WinRMTransportError) as cm:
            p.transport.send_message(receive_envelope(p, bogus))
        self.assertEqual(cm.exception.code, 500)
        self.assertEqual(http, [(500, ENCRYPTED_CT)])
        root = ET.fromstring(cm.exception.response_text)
        fault = root.find("s:Body/s:Fault", NS)
        self.assertIsNotNone(fault)
        # QNames: compare local parts, the prefixes are the server's choice.
        self.assertEqual(fault.find("s:Code/s:Value", NS).text.split(":")[-1], "Sender")
        self.assertEqual(fault.find("s:Code/s:Subcode/s:Value", NS).text.split(":")[-1],
                         "InvalidSelectors")
        self.assertEqual(fault.find("s:Detail/f:WSManFault", NS).get("Code"), "2150858843")


if __name__ == "__main__":
    unittest.main(verbosity=2)
