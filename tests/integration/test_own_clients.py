#!/usr/bin/python3
"""The test host over real HTTP/TLS sockets, driven by our own small clients
where no independent client can do the job (Debian has none that does
Kerberos message encryption or CredSSP): Kerberos/SPNEGO/NTLM with message
encryption, channel binding and strict CBT, CredSSP with NTLM and Kerberos
inside over TLS 1.2 and 1.3, chunking, the CredSSP refusal paths, and the
fault switches."""
import http.client
import os
import ssl
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "clients"))
from bedfixture import BedTestCase  # noqa: E402

import credssp_client  # noqa: E402
import gss_client  # noqa: E402
import wsclient  # noqa: E402

CMD = 'printf "out:%s" "$(id -un)"; printf "err" >&2; exit 5'
PROTO = {"Negotiate": "application/HTTP-SPNEGO-session-encrypted",
         "Kerberos": "application/HTTP-Kerberos-session-encrypted",
         "CredSSP": "application/HTTP-CredSSP-session-encrypted"}


class Clients(BedTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        os.environ["KRB5_CONFIG"] = cls.bed.env["KRB5_CONFIG"]
        os.environ["KRB5CCNAME"] = "MEMORY:own-clients"
        os.environ.pop("KRB5_KTNAME", None)

    def gss(self, mech, https=False, scheme="Negotiate", **kw):
        e = self.bed.env
        domain = e["WINRM_DOMAIN"] if mech == "ntlm" else e["WINRM_REALM"]
        return gss_client.GssTransport(self.bed.url(https), scheme, mech, e["WINRM_USER"],
                                       domain, e["WINRM_PASSWORD"], ca_file=e["WINRM_CA_CERT"],
                                       **kw)

    def credssp(self, inner, https=False, **kw):
        e = self.bed.env
        return credssp_client.CredSSPTransport(self.bed.url(https), e["WINRM_USER"],
                                               e["WINRM_DOMAIN"], e["WINRM_PASSWORD"],
                                               inner=inner, ca_file=e["WINRM_CA_CERT"], **kw)

    def check_run(self, transport, scheme, mechanism, encrypted=True, cbt=None):
        self.events()   # forget what came before
        out, err, code = wsclient.run_command(transport, CMD)
        self.assertEqual((out, err, code), (b"out:nobody" if os.geteuid() == 0 else
                                            out, b"err", 5))
        self.assertTrue(out.startswith(b"out:"))
        evs = self.events()
        auth = [e for e in evs if e["event"] == "auth"]
        self.assertEqual(len(auth), 1, auth)
        self.assertEqual((auth[0]["scheme"], auth[0]["mechanism"]), (scheme, mechanism))
        msgs = [e for e in evs if e["event"] == "message" and e["action"]]
        self.assertGreaterEqual(len(msgs), 5)      # Create, Command, Send?, Receive, Delete
        for m in msgs:
            self.assertEqual(m["encrypted"], encrypted, m)
            self.assertEqual(m["protocol"], PROTO[scheme] if encrypted else None)
            self.assertEqual(m["cbt_seen"], cbt)
            self.assertEqual(m["conn"], auth[0]["conn"])   # one keep-alive connection
        cmds = [e for e in evs if e["event"] == "command"]
        self.assertEqual(cmds[0]["command"], CMD)
        return auth[0]

    # -- Negotiate / Kerberos with message encryption -------------------------------
    def test_http_encrypted(self):
        for scheme, mech, want in (("Kerberos", "kerberos", "kerberos"),
                                   ("Negotiate", "kerberos", "kerberos"),
                                   ("Negotiate", "spnego", "kerberos"),
                                   ("Negotiate", "ntlm", "ntlm")):
            with self.subTest(scheme=scheme, mech=mech):
                t = self.gss(mech, scheme=scheme)
                auth = self.check_run(t, scheme, want)
                self.assertEqual(auth["spnego"], mech in ("spnego", "ntlm"))
                t.close()

    def test_https_cbt(self):
        for mech, want in (("kerberos", "kerberos"), ("ntlm", "ntlm")):
            with self.subTest(mech=mech):
                self.check_run(self.gss(mech, https=True, encrypt=False), "Negotiate", want,
                               encrypted=False, cbt=True)
                self.check_run(self.gss(mech, https=True, encrypt=False, send_cbt=False),
                               "Negotiate", want, encrypted=False, cbt=False)
                # Both: message encryption inside TLS (message_encryption=always).
                self.check_run(self.gss(mech, https=True, encrypt=True), "Negotiate", want,
                               encrypted=True, cbt=True)

    def test_strict_cbt(self):
        self.bed.set(strict_cbt=True)
        try:
            for mech in ("kerberos", "ntlm"):
                with self.subTest(mech=mech):
                    t = self.gss(mech, https=True, encrypt=False, send_cbt=False)
                    status, _ = t.post(wsclient.build_create()[1])
                    self.assertEqual(status, 401)
                    fails = self.events("auth_fail")
                    self.assertIn("Strict", fails[-1]["reason"])
                    self.check_run(self.gss(mech, https=True, encrypt=False), "Negotiate",
                                   mech, encrypted=False, cbt=True)
        finally:
            self.bed.set(strict_cbt=False)

    def test_tampered_kerberos_body_refused(self):
        t = self.gss("kerberos", scheme="Kerberos")
        t.authenticate()
        ctype, body = gss_client.encrypt_body(wsclient.build_create()[1], t.initiator,
                                              PROTO["Kerberos"])
        i = len(body) - 40          # inside the sealed SOAP
        body = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1:]
        self.events()
        resp, data = t._request(body, {"Content-Type": ctype})
        self.assertEqual(resp.status, 400)
        refused = self.events("refused")
        self.assertIn("cannot decrypt", refused[0]["reason"])
        self.assertFalse(self.events("command"))

    def test_plaintext_on_http_refused(self):
        t = self.gss("ntlm", encrypt=False)
        self.events()
        status, data = t.post(wsclient.build_create()[1])
        self.assertEqual((status, data), (500, b""))
        self.assertIn("unencrypted", self.events("refused")[0]["reason"])
        self.bed.set(allow_unencrypted=True)
        try:
            self.check_run(self.gss("ntlm", encrypt=False), "Negotiate", "ntlm",
                           encrypted=False)
        finally:
            self.bed.set(allow_unencrypted=False)

    # -- CredSSP ------------------------------------------------------------------------
    def test_credssp(self):
        e = self.bed.env
        for inner in ("ntlm", "kerberos"):
            for tls in ("1.2", "1.3"):
                for https in (False, True):
                    with self.subTest(inner=inner, tls=tls, https=https):
                        t = self.credssp(inner, https=https, tls_max=tls)
                        auth = self.check_run(t, "CredSSP", "credssp-" + inner)
                        self.assertEqual(auth["tls_version"], "TLSv" + tls)
                        self.assertEqual(auth["credssp_version"], 6)
                        deleg = [ev for ev in self.bed.log()
                                 if ev["event"] == "credssp_delegated"][-1]
                        self.assertEqual((deleg["domain"], deleg["user"], deleg["password"]),
                                         (e["WINRM_DOMAIN"], e["WINRM_USER"],
                                          e["WINRM_PASSWORD"]))

    def test_credssp_chunked_both_ways(self):
        # 100 KB of stdin in one Send (> 16 KiB: multipart/x-multi-encrypted) and
        # 100 KB of stdout back.
        t = self.credssp("ntlm")
        data = bytes(range(256)) * 400
        out, err, code = wsclient.run_command(t, "cat", stdin=data)
        self.assertEqual((out, code), (data, 0))

    def test_credssp_broken_pubkey_sends_nothing(self):
        self.bed.set(credssp_break_pubkey=True)
        try:
            self.events()
            with self.assertRaises(credssp_client.PubKeyAuthRefused):
                wsclient.run_command(self.credssp("ntlm"), "echo")
            evs = self.events()
            self.assertTrue([e for e in evs if e["event"] == "credssp_pubkey_sent"])
            self.assertFalse([e for e in evs if e["event"] == "credssp_delegated"])
            self.assertFalse([e for e in evs if e["event"] == "command"])
        finally:
            self.bed.set(credssp_break_pubkey=False)

    def test_credssp_version_4(self):
        self.bed.set(credssp_max_version=4)
        self.events()
        try:
            with self.assertRaises(credssp_client.CredSSPError) as cm:
                wsclient.run_command(self.credssp("ntlm"), "echo")
            self.assertIn("below the minimum", str(cm.exception))
            self.assertFalse(self.events("credssp_delegated"))
            t = self.credssp("ntlm", min_version=2)
            auth = self.check_run(t, "CredSSP", "credssp-ntlm")
            self.assertEqual(auth["credssp_version"], 4)
        finally:
            self.bed.set(credssp_max_version=6)


class FaultSwitches(BedTestCase):
    """Each switch does what later reliability tests will rely on."""

    def basic(self):
        e = self.bed.env
        return wsclient.PlainHttpTransport(self.bed.url(True), basic=(e["WINRM_USER"],
                                           e["WINRM_PASSWORD"]), cafile=e["WINRM_CA_CERT"],
                                           timeout=10)

    def test_latency(self):
        t = self.basic()
        self.bed.set(latency_ms=300)
        try:
            t0 = time.monotonic()
            status, _ = t.post(wsclient.build_create()[1])
            self.assertGreaterEqual(time.monotonic() - t0, 0.3)
            self.assertEqual(status, 200)
        finally:
            self.bed.set(latency_ms=0)

    def test_http_500(self):
        t = self.basic()
        self.bed.set(http_500=2)
        self.assertEqual(t.post(wsclient.build_create()[1])[0], 500)
        self.assertEqual(t.post(wsclient.build_create()[1])[0], 500)
        self.assertEqual(t.post(wsclient.build_create()[1])[0], 200)

    def test_drop_mid_response(self):
        t = self.basic()
        t.post(wsclient.build_create()[1])       # connection up
        self.bed.set(drop_mid_response=True)
        try:
            with self.assertRaises((http.client.HTTPException, ConnectionError, ssl.SSLError)):
                t.post(wsclient.build_create()[1])
        finally:
            self.bed.set(drop_mid_response=False)
        self.assertTrue(self.events("fault_switch"))

    def test_trickle(self):
        t = self.basic()
        self.bed.set(trickle_bytes=200, trickle_delay_ms=20)
        try:
            t0 = time.monotonic()
            out, _, code = wsclient.run_command(t, "echo trickled")
            # A ~1.5 KB response in 200-byte pieces takes several pauses.
            self.assertGreater(time.monotonic() - t0, 0.1)
            self.assertEqual((out, code), (b"trickled\n", 0))
        finally:
            self.bed.set(trickle_bytes=0)

    def test_401_after_n(self):
        e = self.bed.env
        os.environ["KRB5_CONFIG"] = e["KRB5_CONFIG"]
        t = gss_client.GssTransport(self.bed.url(), "Negotiate", "ntlm", e["WINRM_USER"],
                                    e["WINRM_DOMAIN"], e["WINRM_PASSWORD"])
        self.bed.set(fail_401_after=2)
        try:
            self.assertEqual(t.post(wsclient.build_create()[1])[0], 200)   # request 1 after auth
            self.assertEqual(t.post(wsclient.build_create()[1])[0], 200)   # 2
            self.assertEqual(t.post(wsclient.build_create()[1])[0], 401)   # 3: re-auth demanded
            self.assertEqual(t.post(wsclient.build_create()[1])[0], 200)   # the client re-auths
        finally:
            self.bed.set(fail_401_after=0)

    def test_garbage_http(self):
        port = int(self.bed.env["WINRM_HTTP_PORT"])
        for raw in (b"GARBAGE\r\n\r\n", b"POST /wsman HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                    b"POST /wsman HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",
                    b"POST /wsman HTTP/1.1\r\nAuthorization: Negotiate !!!\r\n"
                    b"Content-Length: 0\r\n\r\n"):
            with self.subTest(raw[:30]):
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.connect()
                c.sock.sendall(raw)
                resp = http.client.HTTPResponse(c.sock)
                resp.begin()
                self.assertIn(resp.status, (400, 401, 431))
                c.close()
        # The server is still fine.
        self.assertEqual(self.basic().post(wsclient.build_create()[1])[0], 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
