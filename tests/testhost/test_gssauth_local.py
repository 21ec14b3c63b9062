"""Self-test of gssauth.GssAcceptor, driven in-process (no HTTP) by the
python-gssapi initiator of tests/clients/gss_client.py.

Realm: when a bed's env is loaded (WINRM_BED_DIR set, e.g. `. DIR/env`), its
KDC, keytab and NTLM user file are used; otherwise the test brings up its own
bed (tests/bed/up) and takes it down afterwards.

Run: /usr/bin/python3 tests/testhost/test_gssauth_local.py
"""
import os
import struct
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "clients"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import bedfixture                                # noqa: E402

REALM, DOMAIN, USER = "WINRM.TEST", "WINRMTEST", "alice"
CBT = b"tls-server-end-point:" + bytes(range(32))
WRONG_CBT = b"tls-server-end-point:" + bytes(32)
_scratch = {}


def setUpModule():
    global PASSWORD
    if not os.environ.get("WINRM_BED_DIR"):
        _scratch["bed"] = bedfixture.Bed()
        os.environ.update(_scratch["bed"].env)
    e = os.environ
    PASSWORD = e["WINRM_PASSWORD"]
    os.environ.update(KRB5_KTNAME=e["WINRM_KEYTAB"], NTLM_USER_FILE=e["WINRM_NTLM_USER_FILE"],
                      KRB5RCACHEDIR=e["WINRM_BED_DIR"])
    os.environ.update(NETBIOS_DOMAIN_NAME=DOMAIN, KRB5CCNAME="MEMORY:gssauth-test")


def tearDownModule():
    if _scratch.get("bed"):
        _scratch["bed"].down()


# Imported after sys.path is set; gssapi reads the environment lazily.
import gssauth                                   # noqa: E402
from authbase import AuthError                   # noqa: E402
from gss_client import GssInitiator              # noqa: E402

# (client mech, spnego_raw_ntlm) -> expected acceptor mechanism, spnego
VARIANTS = {
    "kerberos-raw": (("kerberos", False), "kerberos", False),
    "kerberos-spnego": (("spnego", False), "kerberos", True),
    "ntlm-raw": (("ntlm", True), "ntlm", False),
    "ntlm-spnego": (("ntlm", False), "ntlm", True),
}


def handshake(variant, scheme="Negotiate", acceptor_cbt=None, client_cbt=None, strict=False,
              delegate=False, password=None, log=None):
    (mech, raw_ntlm), _, _ = VARIANTS[variant]
    client = GssInitiator(mech, USER, REALM if mech != "ntlm" else DOMAIN,
                          password or PASSWORD, "localhost", cbt_app_data=client_cbt,
                          delegate=delegate, spnego_raw_ntlm=raw_ntlm)
    acc = gssauth.GssAcceptor(scheme, cbt_app_data=acceptor_cbt, strict_cbt=strict,
                              log=log if log is not None else (lambda rec: None))
    token = client.step()
    for _ in range(6):
        out, done = acc.step(token)
        if out:
            token = client.step(out)
        if done:
            break
        if not token:
            raise AssertionError("initiator has nothing more to send")
    if not client.complete:
        raise AssertionError("initiator did not complete")
    return client, acc


class Handshake(unittest.TestCase):
    def test_variants(self):
        for variant, (_, mech, spnego) in VARIANTS.items():
            with self.subTest(variant):
                client, acc = handshake(variant)
                self.assertTrue(acc.complete)
                self.assertEqual(acc.mechanism, mech)
                self.assertIs(acc.info["spnego"], spnego)
                self.assertIsNone(acc.info["cbt_seen"])
                self.assertFalse(acc.info["delegation"])
                want = f"{USER}@{REALM}" if mech == "kerberos" else f"{DOMAIN}\\{USER}"
                self.assertEqual(acc.principal, want)
                self.assertEqual(acc.protocol, "application/HTTP-SPNEGO-session-encrypted")

    def test_kerberos_scheme(self):
        client, acc = handshake("kerberos-raw", scheme="Kerberos")
        self.assertEqual(acc.mechanism, "kerberos")
        self.assertEqual(acc.protocol, "application/HTTP-Kerberos-session-encrypted")
        self.assertTrue(acc.info["mutual"])

    def test_kerberos_scheme_rejects_others(self):
        for variant in ("kerberos-spnego", "ntlm-raw", "ntlm-spnego"):
            with self.subTest(variant):
                with self.assertRaises(AuthError):
                    handshake(variant, scheme="Kerberos")

    def test_wrong_password(self):
        # Kerberos fails at the client (the KDC refuses preauth); NTLM at the acceptor.
        import gssapi
        with self.assertRaises(gssapi.exceptions.GSSError):
            handshake("kerberos-raw", password="wrong")
        for variant in ("ntlm-raw", "ntlm-spnego"):
            with self.subTest(variant):
                with self.assertRaises(AuthError):
                    handshake(variant, password="wrong")

    def test_garbage_tokens(self):
        for token in (b"\x00", b"NTLMSSP\x00\x03\x00\x00\x00", b"\x60\x05\x06\x03abc",
                      b"\x60\x82\xff\xff", b"\xa1\x03\x30\x01", b"x" * 70000):
            with self.subTest(token[:8]):
                acc = gssauth.GssAcceptor("Negotiate", log=lambda rec: None)
                with self.assertRaises(AuthError):
                    acc.step(token)
                with self.assertRaises(AuthError):     # failed stays failed
                    acc.step(token)

    def test_delegation(self):
        for variant in ("kerberos-raw", "kerberos-spnego"):
            with self.subTest(variant):
                _, acc = handshake(variant, delegate=True)
                self.assertTrue(acc.info["delegation"])
                self.assertIsNotNone(acc.delegated_creds)
        _, acc = handshake("ntlm-spnego", delegate=True)    # NTLM cannot delegate
        self.assertFalse(acc.info["delegation"])


class ChannelBinding(unittest.TestCase):
    def test_sent_and_matching(self):
        for variant in VARIANTS:
            with self.subTest(variant):
                _, acc = handshake(variant, acceptor_cbt=CBT, client_cbt=CBT, strict=True)
                self.assertIs(acc.info["cbt_seen"], True)

    def test_sent_and_wrong(self):
        for variant in VARIANTS:
            with self.subTest(variant):
                with self.assertRaises(AuthError):
                    handshake(variant, acceptor_cbt=CBT, client_cbt=WRONG_CBT)

    def test_not_sent(self):
        for variant in VARIANTS:
            with self.subTest(variant):
                _, acc = handshake(variant, acceptor_cbt=CBT)
                self.assertIs(acc.info["cbt_seen"], False)

    def test_strict_not_sent(self):
        for variant in VARIANTS:
            with self.subTest(variant):
                with self.assertRaises(AuthError) as cm:
                    handshake(variant, acceptor_cbt=CBT, strict=True)
                self.assertIn("Strict", str(cm.exception))

    def test_http_ignores_client_binding(self):
        # A client that binds over plain HTTP is accepted; nothing to compare with.
        for variant in VARIANTS:
            with self.subTest(variant):
                _, acc = handshake(variant, client_cbt=CBT)
                self.assertIsNone(acc.info["cbt_seen"])

    def test_ntlm_binding_parser(self):
        self.assertEqual(gssauth.binding_hash(b"tls-server-end-point:" + b"\x11" * 32).hex(),
                         "187b8ed16257050635bf9bbd99eb5e29")   # what gss-ntlmssp sends
        for bad in (b"NTLMSSP\x00\x03\x00\x00\x00" + b"\x00" * 8 + b"\xff\x00\xff\x00\x40\x00\x00\x00",
                    b"NTLMSSP\x00",
                    self._authenticate([(0x0A, b"\x01" * 15), (0, b"")]),
                    self._authenticate([(0x02, b"ab")]),                  # no MsvAvEOL
                    self._authenticate([(0x02, b"ab")], cut=1),          # AV runs past the end
                    self._authenticate([(0x07, b"t" * 8)] * 70 + [(0, b"")])):
            with self.assertRaises(ValueError):
                gssauth.ntlm_channel_binding(bad)
        # Windows without a binding sends 16 zero bytes; gss-ntlmssp sends none.
        zero = self._authenticate([(0x0A, bytes(16)), (0, b"")])
        self.assertEqual(gssauth.ntlm_channel_binding(zero), bytes(16))
        self.assertIsNone(gssauth.ntlm_channel_binding(self._authenticate([(0, b"")])))
        v1 = b"NTLMSSP\x00\x03\x00\x00\x00" + b"\x00" * 8 + struct.pack("<HHI", 24, 24, 28) + b"r" * 24
        self.assertIsNone(gssauth.ntlm_channel_binding(v1))

    @staticmethod
    def _authenticate(av_pairs, cut=0):
        """A minimal AUTHENTICATE message whose NTLMv2 response holds av_pairs."""
        avs = b"".join(struct.pack("<HH", i, len(v)) + v for i, v in av_pairs)
        nt = b"p" * 16 + b"\x01\x01" + b"\x00" * 6 + b"t" * 8 + b"c" * 8 + b"\x00" * 4 + avs
        nt = nt[:len(nt) - cut]
        head = b"NTLMSSP\x00\x03\x00\x00\x00" + b"\x00" * 8
        return head + struct.pack("<HHI", len(nt), len(nt), len(head) + 8) + nt


class Sealing(unittest.TestCase):
    MESSAGES = (b"x", b"<s:Envelope/>" * 10, os.urandom(40000))

    def test_round_trip(self):
        for variant in VARIANTS:
            for scheme in ("Negotiate", "Kerberos") if variant == "kerberos-raw" else ("Negotiate",):
                with self.subTest(variant=variant, scheme=scheme):
                    client, acc = handshake(variant, scheme=scheme)
                    for msg in self.MESSAGES:
                        lf, payload, _ = client.seal(msg)
                        self.assertEqual(acc.unseal(lf, payload), msg)
                        lf, payload = acc.seal(msg)
                        self.assertEqual(lf, 16 if acc.mechanism == "ntlm" else 60)
                        self.assertEqual(len(payload), lf + len(msg))   # AES, NTLM: no padding
                        self.assertEqual(client.unseal(lf, payload), msg)

    def test_tampered(self):
        for variant in VARIANTS:
            for where in ("header", "data"):
                with self.subTest(variant=variant, where=where):
                    client, acc = handshake(variant)
                    lf, payload, _ = client.seal(b"hello world")
                    i = 3 if where == "header" else lf + 2
                    bad = payload[:i] + bytes([payload[i] ^ 1]) + payload[i + 1:]
                    with self.assertRaises(AuthError):
                        acc.unseal(lf, bad)

    def test_bad_length_field(self):
        for variant in ("kerberos-raw", "ntlm-raw"):
            with self.subTest(variant):
                client, acc = handshake(variant)
                lf, payload, _ = client.seal(b"hello")
                for wrong in (0, lf - 1, len(payload) + 1, 2 ** 32 - 1):
                    with self.assertRaises(AuthError):
                        acc.unseal(wrong, payload)

    def test_before_complete(self):
        acc = gssauth.GssAcceptor("Negotiate", log=lambda rec: None)
        with self.assertRaises(AuthError):
            acc.seal(b"x")
        with self.assertRaises(AuthError):
            acc.unseal(16, b"x" * 32)


if __name__ == "__main__":
    unittest.main()
