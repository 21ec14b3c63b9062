#!/usr/bin/python3
"""Self-test of the CredSSP acceptor against tests/clients/credssp_client.py,
in-process (no HTTP): NTLM and Kerberos inside, TLS 1.2 and 1.3, CredSSP
versions 2, 4 and 6, message encryption and the failure paths.

Needs a KDC: uses a running bed when WINRM_BED_DIR is set (source DIR/env),
otherwise brings up its own bed (tests/bed/up) and takes it down at the end. Run: /usr/bin/python3 tests/testhost/test_credssp_local.py [-v]
"""
import os
import ssl
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "clients"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import bedfixture                # noqa: E402

REALM, DOMAIN, USER = "WINRM.TEST", "WINRMTEST", "alice"
BED = {}            # filled by setUpModule: cert, key, ca, password
OWN_BED = []        # the bed this test brought up, if any


def setUpModule():
    os.environ["NETBIOS_DOMAIN_NAME"] = DOMAIN
    os.environ["KRB5CCNAME"] = "MEMORY:credssp-selftest"
    if not (os.environ.get("WINRM_BED_DIR") and os.environ.get("WINRM_KEYTAB")):
        OWN_BED.append(bedfixture.Bed())
        os.environ.update(OWN_BED[0].env)
    os.environ.update(KRB5_KTNAME=os.environ["WINRM_KEYTAB"],
                      NTLM_USER_FILE=os.environ["WINRM_NTLM_USER_FILE"])
    BED.update(cert=os.environ["WINRM_SERVER_CERT"], key=os.environ["WINRM_SERVER_KEY"],
               ca=os.environ["WINRM_CA_CERT"], password=os.environ["WINRM_PASSWORD"])


def tearDownModule():
    for bed in OWN_BED:
        bed.down()


import credssp                   # noqa: E402  (after sys.path)
import credssp_client            # noqa: E402
import tsrequest                 # noqa: E402
from authbase import AuthError   # noqa: E402


def make_pair(inner="ntlm", tls="1.2", server_cfg=None, password=None, **client_kw):
    log = []
    cfg = {"credssp_tls_max": tls, "accounts": {USER: BED["password"]}}
    cfg.update(server_cfg or {})
    acc = credssp.CredSSPAcceptor(cert_file=BED["cert"], key_file=BED["key"],
                                  log=log.append, config=cfg)
    client_kw.setdefault("min_version", 2)
    cli = credssp_client.CredSSPClient(USER, DOMAIN if inner == "ntlm" else REALM,
                                       password or BED["password"], inner, tls_max=tls,
                                       ca_file=BED["ca"], realm=REALM, **client_kw)
    return acc, cli, log


def run(acc, cli):
    """Drive the exchange; returns the number of client tokens sent."""
    tok, n = cli.step(None), 0
    while tok is not None:
        n += 1
        out, complete = acc.step(tok)
        if complete:
            assert out is None and cli.complete, "acceptor complete before the client"
            return n
        tok = cli.step(out)
    raise AssertionError("client stopped before the acceptor completed")


def events(log, name):
    return [e for e in log if e["event"] == name]


def record_overhead(tls_version, cipher):
    """Bytes before the plaintext in one record: header + explicit IV/nonce."""
    if tls_version == "TLSv1.3" or tls_version == "TLSv1":
        return 5
    return 5 + (8 if "GCM" in cipher else 16)


class Handshake(unittest.TestCase):
    def check(self, inner, tls, client_version=6, server_max=6, **client_kw):
        acc, cli, log = make_pair(inner, tls, {"credssp_max_version": server_max},
                                  client_version=client_version, **client_kw)
        run(acc, cli)
        version = min(client_version, server_max)
        self.assertTrue(acc.complete)
        self.assertEqual(acc.mechanism, "credssp-" + inner)
        self.assertEqual(acc.info["credssp_version"], version)
        self.assertEqual(cli.version, version)
        self.assertEqual(acc.info["tls_version"], "TLSv1.3" if tls == "1.3" else "TLSv1.2")
        want = {"domain": DOMAIN if inner == "ntlm" else REALM, "user": USER,
                "password": BED["password"]}
        self.assertEqual(acc.info["delegated"], want)
        self.assertEqual(events(log, "credssp_delegated"), [dict(event="credssp_delegated", **want)])
        self.assertEqual(acc.principal, "%s\\%s" % (want["domain"], USER))
        ok = events(log, "credssp_pubkey_ok")
        self.assertEqual(ok[0]["nonce"], version >= 5)
        self.round_trips(acc, cli)
        return acc, cli, log

    def round_trips(self, acc, cli):
        tv, cipher = acc.info["tls_version"], acc.info["cipher"]
        for size in (1, 15, 16, 100, 1000, 16384):
            data = os.urandom(size)
            length, payload = acc.seal(data)
            # The length field is the real trailer of the record OpenSSL wrote.
            self.assertEqual(length, len(payload) - record_overhead(tv, cipher) - size)
            self.assertEqual(cli.unseal(length, payload), data)
            length, payload = cli.seal(data)
            self.assertEqual(acc.unseal(length, payload), data)

    def test_matrix(self):
        for inner in ("ntlm", "kerberos"):
            for tls in ("1.2", "1.3"):
                for v in (6, 5, 4, 3, 2):
                    with self.subTest(inner=inner, tls=tls, client_version=v):
                        self.check(inner, tls, client_version=v)
                    with self.subTest(inner=inner, tls=tls, server_max=v):
                        self.check(inner, tls, server_max=v)

    def test_raw_mechanisms(self):
        for inner in ("ntlm", "kerberos"):
            for v in (6, 2):
                with self.subTest(inner=inner, version=v):
                    acc, _, _ = self.check(inner, "1.2", client_version=v, spnego=False)
                    self.assertFalse(acc.info["spnego"])

    def test_kerberos_iov_wrap(self):
        self.check("kerberos", "1.3", krb_wrap="iov")

    def test_tls13_finished_alone(self):
        # pyspnego sends the client Finished alone and gets session tickets back.
        for inner in ("ntlm", "kerberos"):
            self.check(inner, "1.3", tls13_finished_alone=True)

    def test_cbc_trailers(self):
        for cipher in ("ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA256",
                       "AES256-SHA", "AES128-SHA"):
            for tls_min, tls in (("1.2", "1.2"), ("1.0", "1.0")):
                if tls == "1.0" and not cipher.endswith("-SHA"):
                    continue
                with self.subTest(cipher=cipher, tls=tls):
                    acc, cli, _ = make_pair("ntlm", tls, {
                        "credssp_ciphers": cipher, "credssp_tls_min": tls_min})
                    cli = credssp_client.CredSSPClient(
                        USER, DOMAIN, BED["password"], "ntlm", tls_min=tls_min, tls_max=tls,
                        min_version=2, ca_file=BED["ca"])
                    run(acc, cli)
                    self.assertEqual(acc.info["cipher"], cipher)
                    self.assertEqual(acc.info["tls_version"], "TLSv1" if tls == "1.0" else "TLSv1.2")
                    self.round_trips(acc, cli)

    def test_multipart_framing(self):
        """The host's encryption.py and the client's framing interoperate,
        single and x-multi-encrypted (16384-byte chunks)."""
        import encryption
        acc, cli, _ = make_pair("ntlm", "1.3")
        run(acc, cli)
        for size in (10, 16384, 16385, 50000):
            body = os.urandom(size)
            ctype, enc = encryption.encode(body, acc, chunked=True)
            self.assertEqual(ctype.startswith("multipart/x-multi-encrypted"), size > 16384)
            self.assertEqual(credssp_client.decrypt_body(cli, enc), body)
            ctype, enc = credssp_client.encrypt_body(cli, body)
            kind, proto = encryption.parse_content_type(ctype)
            self.assertEqual(encryption.decode(enc, kind, proto, acc), body)

    def test_trailer_formula(self):
        t = credssp.trailer_length
        self.assertEqual(t(100, "TLSv1.3", "TLS_AES_256_GCM_SHA384"), 17)
        self.assertEqual(t(100, "TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384"), 16)
        self.assertEqual(t(1, "TLSv1.2", "AES128-SHA"), 31)        # 1+20 -> 32
        self.assertEqual(t(12, "TLSv1.2", "AES128-SHA"), 36)       # 12+20 -> 48 (full block)
        self.assertEqual(t(100, "TLSv1.2", "ECDHE-RSA-AES256-SHA384"), 60)
        with self.assertRaises(AuthError):
            t(1, "TLSv1.2", "ECDHE-RSA-CHACHA20-POLY1305")


class Failures(unittest.TestCase):
    def test_break_pubkey_client_refuses(self):
        for inner in ("ntlm", "kerberos"):
            for v in (6, 4):
                with self.subTest(inner=inner, version=v):
                    acc, cli, log = make_pair(inner, "1.2", {"credssp_break_pubkey": True},
                                              client_version=v)
                    with self.assertRaises(credssp_client.PubKeyAuthRefused):
                        run(acc, cli)
                    self.assertFalse(cli.sent_credentials)
                    self.assertFalse(acc.complete)
                    self.assertEqual(events(log, "credssp_pubkey_sent")[0]["broken"], True)
                    self.assertEqual(events(log, "credssp_delegated"), [])

    def test_client_pubkey_mismatch(self):
        real = credssp_client.server_public_key
        credssp_client.server_public_key = lambda der: b"\x30" + real(der)[1:-1] + b"\x00"
        try:
            for v in (6, 4):
                acc, cli, log = make_pair("ntlm", "1.2", client_version=v)
                with self.assertRaisesRegex(AuthError, "pubKeyAuth does not match"):
                    run(acc, cli)
                self.assertEqual(len(events(log, "credssp_pubkey_bad")), 1)
                self.assertEqual(events(log, "credssp_pubkey_sent"), [])
        finally:
            credssp_client.server_public_key = real

    def test_tampered_record(self):
        acc, cli, _ = make_pair("kerberos", "1.3")
        run(acc, cli)
        length, payload = cli.seal(b"<s:Envelope/>" * 10)
        bad = payload[:-3] + bytes([payload[-3] ^ 1]) + payload[-2:]
        with self.assertRaisesRegex(AuthError, "TLS record rejected"):
            acc.unseal(length, bad)

    def test_wrong_length_field(self):
        acc, cli, log = make_pair("ntlm", "1.2")
        run(acc, cli)
        length, payload = cli.seal(b"x" * 50)
        with self.assertRaisesRegex(AuthError, "length field"):
            acc.unseal(length + 1, payload)
        self.assertEqual(len(events(log, "credssp_bad_trailer")), 1)

    def test_record_framing(self):
        acc, cli, _ = make_pair("ntlm", "1.2")
        run(acc, cli)
        _, p1 = cli.seal(b"a" * 10)
        with self.assertRaisesRegex(AuthError, "runs 1 bytes past"):
            acc.unseal(16, p1[:-1])
        with self.assertRaisesRegex(AuthError, "not application data"):
            acc.unseal(16, b"\x16" + p1[1:])
        with self.assertRaisesRegex(AuthError, "more than 4 TLS records"):
            acc.unseal(16, b"".join(cli.seal(b"b")[1] for _ in range(5)))

    def test_wrong_password_errorcode(self):
        # errorCode exists in versions 3, 4 and 6; 2 and 5 just fail.
        for v in (6, 4, 3):
            acc, cli, log = make_pair("ntlm", "1.2", password="wrong", client_version=v)
            with self.assertRaises(credssp_client.ServerErrorCode) as cm:
                run(acc, cli)
            self.assertEqual(cm.exception.code, 0xC000006D)
            with self.assertRaises(AuthError):
                acc.step(b"\x17\x03\x03\x00\x10" + b"\x00" * 16)
        for v in (5, 2):
            acc, cli, log = make_pair("ntlm", "1.2", password="wrong", client_version=v)
            with self.assertRaisesRegex(AuthError, "SPNEGO failed"):
                run(acc, cli)
            self.assertEqual(events(log, "credssp_delegated"), [])

    def test_client_minimum_version(self):
        acc, cli, log = make_pair("ntlm", "1.2", {"credssp_max_version": 4}, min_version=5)
        with self.assertRaisesRegex(credssp_client.CredSSPError, "below the minimum"):
            run(acc, cli)
        self.assertEqual(events(log, "credssp_pubkey_ok"), [])

    def test_server_minimum_version(self):
        acc, cli, _ = make_pair("ntlm", "1.2", {"credssp_min_version": 5}, client_version=4)
        with self.assertRaisesRegex(AuthError, "below the required"):
            run(acc, cli)

    def test_delegated_password_must_log_on(self):
        acc, cli, log = make_pair("ntlm", "1.2", {"accounts": {USER: "other"}})
        with self.assertRaisesRegex(AuthError, "does not log on"):
            run(acc, cli)
        self.assertEqual(len(events(log, "credssp_delegated")), 1)
        self.assertFalse(acc.complete)

    def test_garbage_tokens(self):
        acc, _, _ = make_pair()
        with self.assertRaisesRegex(AuthError, "TLS error"):
            acc.step(b"GET / HTTP/1.1\r\n\r\n")
        with self.assertRaisesRegex(AuthError, "already failed"):
            acc.step(b"x")
        acc, _, _ = make_pair()
        with self.assertRaisesRegex(AuthError, "exceeds"):
            acc.step(b"\x16" * (credssp.MAX_TOKEN + 1))

    def test_bad_tsrequest_inside_tls(self):
        acc, cli, log = make_pair("ntlm", "1.2")
        out, _ = acc.step(cli.step(None))           # ClientHello -> server flight
        out, _ = acc.step(cli.step(out))            # client Finished -> server Finished
        self.assertEqual(acc._stage, "auth")
        cli._in.write(out)
        cli._tls.do_handshake()
        with self.assertRaisesRegex(AuthError, "bad DER in TSRequest"):
            acc.step(cli._tls_write(b"\x30\x03\x02\x01"))
        self.assertEqual(events(log, "credssp_error")[-1]["stage"], "auth")

    def test_pubkey_without_spnego(self):
        acc, cli, _ = make_pair("ntlm", "1.2")
        out, _ = acc.step(cli.step(None))
        out, _ = acc.step(cli.step(out))
        cli._in.write(out)
        cli._tls.do_handshake()
        req = credssp_client.encode_ts_request(6, pub_key_auth=b"x" * 32, client_nonce=b"n" * 32)
        with self.assertRaisesRegex(AuthError, "before the SPNEGO exchange completed"):
            acc.step(cli._tls_write(req))

    def test_seal_before_complete(self):
        acc, _, _ = make_pair()
        with self.assertRaises(AuthError):
            acc.seal(b"x")
        with self.assertRaises(AuthError):
            acc.unseal(16, b"\x17\x03\x03\x00\x01x")


class Structures(unittest.TestCase):
    def test_cross_encoding(self):
        """The client's hand-written DER and the host's pyasn1 agree."""
        enc = credssp_client.encode_ts_request(6, b"tok", pub_key_auth=b"pk",
                                               client_nonce=b"n" * 32)
        req = tsrequest.decode_ts_request(enc)
        self.assertEqual((req.version, req.nego_tokens, req.pub_key_auth, req.client_nonce),
                         (6, [b"tok"], b"pk", b"n" * 32))
        self.assertEqual(tsrequest.encode_ts_request(req), enc)
        back = credssp_client.decode_ts_request(tsrequest.encode_ts_request(
            tsrequest.TSRequest(version=6, error_code=0xC000006D)))
        self.assertEqual(back["error_code"], 0xC000006D)
        creds = credssp_client.encode_password_creds("D", "üser", "pä ss")
        self.assertEqual(tsrequest.decode_ts_credentials(creds),
                         tsrequest.PasswordCreds("D", "üser", "pä ss"))
        self.assertEqual(tsrequest.encode_ts_credentials(
            tsrequest.PasswordCreds("D", "üser", "pä ss")), creds)

    def test_negative_error_code(self):
        req = tsrequest.decode_ts_request(bytes.fromhex("300da003020106a4060204c000006d"))
        self.assertEqual(req.error_code, 0xC000006D)

    def test_smartcard_rejected(self):
        csp = bytes.fromhex("3005a003020101")
        sc = bytes.fromhex("3011a0060404") + b"1\x002\x00" + bytes.fromhex("a107") + csp
        tc = bytes.fromhex("3019a003020102a112") + b"\x04\x10" + sc[:16]
        with self.assertRaises(tsrequest.TSRequestError):
            tsrequest.decode_ts_credentials(tc)
        tc = credssp_client._seq(credssp_client._ctx(0, credssp_client._int(2)),
                                 credssp_client._ctx(1, credssp_client._octets(sc)))
        with self.assertRaisesRegex(tsrequest.TSRequestError, "smart card"):
            tsrequest.decode_ts_credentials(tc)

    def test_bad_der(self):
        for bad in (b"", b"\x30", b"\x30\x03\xa0\x01", b"\x31\x00",
                    b"\x30\x80\xa0\x03\x02\x01\x06\x00\x00",
                    bytes.fromhex("3005a003020106") + b"\x00",
                    b"\x30\x82\xff\xff" + b"\x00" * 10):
            with self.subTest(bad=bad.hex()):
                with self.assertRaises(tsrequest.TSRequestError):
                    tsrequest.decode_ts_request(bad)
        with self.assertRaisesRegex(tsrequest.TSRequestError, "exceeds"):
            tsrequest.decode_ts_request(b"\x30" + b"\x00" * tsrequest.MAX_MESSAGE)

    def test_subject_public_key(self):
        with open(BED["cert"]) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        self.assertEqual(tsrequest.subject_public_key(der),
                         credssp_client.server_public_key(der))


if __name__ == "__main__":
    unittest.main()
