"""A CredSSP (MS-CSSP) client for tests, and a WinRM transport built on it.

CredSSPClient is the handshake alone: step(server_token) -> client_token, so a
test can drive it against an acceptor in-process. CredSSPTransport carries it
in 'Authorization: CredSSP <b64>' headers over one keep-alive http.client
connection and then encrypts SOAP bodies (MS-WSMV 2.2.9.1.3).

Written independently of the test host: its own small DER code (the host
uses pyasn1), its own public key extraction and trailer rule, so a bug on one
side is not mirrored on the other.
"""
import base64
import hashlib
import http.client
import os
import re
import ssl
import struct
import urllib.parse
import warnings

import gssapi
import gssapi.raw as gssraw
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

OID_SPNEGO = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
OID_KRB5 = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")
OID_NTLM = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")
NTLM_AUTHENTICATE = b"NTLMSSP\x00\x03\x00\x00\x00"

CLIENT_MAGIC = b"CredSSP Client-To-Server Binding Hash\x00"
SERVER_MAGIC = b"CredSSP Server-To-Client Binding Hash\x00"

PROTOCOL = "application/HTTP-CredSSP-session-encrypted"
CHUNK = 16384
MAX_ROUNDS = 10
MAX_RESPONSE = 64 * 1024 * 1024

TLS_VERSIONS = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
                "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


class CredSSPError(Exception):
    pass


class PubKeyAuthRefused(CredSSPError):
    """The server's pubKeyAuth answer was wrong: credentials were not sent."""


class ServerErrorCode(CredSSPError):
    def __init__(self, code):
        super().__init__("server TSRequest carries errorCode 0x%08X" % code)
        self.code = code


# -- minimal DER (MS-CSSP uses EXPLICIT tags: [n] wraps a whole TLV) --------
def _der_len(n):
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag, content):
    return bytes([tag]) + _der_len(len(content)) + content


def _ctx(n, content):
    return _tlv(0xA0 | n, content)


def _int(v):
    return _tlv(0x02, v.to_bytes(v.bit_length() // 8 + 1, "big", signed=True))


def _octets(b):
    return _tlv(0x04, b)


def _seq(*parts):
    return _tlv(0x30, b"".join(parts))


def _read_tlv(buf, pos, end):
    """(tag, content_start, content_end) of the TLV at pos, bounded by end."""
    if pos + 2 > end:
        raise CredSSPError("DER: truncated TLV")
    tag, first = buf[pos], buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise CredSSPError("DER: bad length")
        length = int.from_bytes(buf[pos:pos + count], "big")
        pos += count
    if pos + length > end:
        raise CredSSPError("DER: content runs past its container")
    return tag, pos, pos + length


def _children(buf, start, end):
    out, pos = [], start
    while pos < end:
        tag, s, e = _read_tlv(buf, pos, end)
        out.append((tag, s, e))
        pos = e
    return out


def _explicit(buf, s, e, want_tag):
    """The inner value of an explicit [n] element: (start, end) of its content."""
    inner = _children(buf, s, e)
    if len(inner) != 1 or inner[0][0] != want_tag:
        raise CredSSPError("DER: unexpected inner type")
    return inner[0][1], inner[0][2]


def encode_ts_request(version, nego_token=None, auth_info=None, pub_key_auth=None,
                      client_nonce=None):
    parts = [_ctx(0, _int(version))]
    if nego_token is not None:
        parts.append(_ctx(1, _seq(_seq(_ctx(0, _octets(nego_token))))))
    for n, value in ((2, auth_info), (3, pub_key_auth), (5, client_nonce)):
        if value is not None:
            parts.append(_ctx(n, _octets(value)))
    return _seq(*parts)


def decode_ts_request(data):
    tag, s, e = _read_tlv(data, 0, len(data))
    if tag != 0x30 or e != len(data):
        raise CredSSPError("TSRequest is not one SEQUENCE")
    out = {"nego_tokens": []}
    for tag, cs, ce in _children(data, s, e):
        n = tag & 0x1F
        if tag & 0xE0 != 0xA0 or n > 5:
            raise CredSSPError("TSRequest: unexpected tag 0x%02x" % tag)
        if n in (0, 4):
            vs, ve = _explicit(data, cs, ce, 0x02)
            if not 0 < ve - vs <= 5:
                raise CredSSPError("TSRequest: bad INTEGER")
            value = int.from_bytes(data[vs:ve], "big", signed=True)
            if n == 0:
                out["version"] = value
            else:
                out["error_code"] = value & 0xFFFFFFFF     # NTSTATUS, either sign
        elif n == 1:
            ss, se = _explicit(data, cs, ce, 0x30)
            for t, es, ee in _children(data, ss, se):
                ts, te = _explicit(data, es, ee, 0xA0)
                vs, ve = _explicit(data, ts, te, 0x04)
                out["nego_tokens"].append(bytes(data[vs:ve]))
        else:
            vs, ve = _explicit(data, cs, ce, 0x04)
            out[{2: "auth_info", 3: "pub_key_auth", 5: "client_nonce"}[n]] = bytes(data[vs:ve])
    if "version" not in out:
        raise CredSSPError("TSRequest without version")
    return out


def encode_password_creds(domain, user, password):
    creds = _seq(*(_ctx(i, _octets(v.encode("utf-16-le")))
                   for i, v in enumerate((domain, user, password))))
    return _seq(_ctx(0, _int(1)), _ctx(1, _octets(creds)))


def server_public_key(cert_der):
    """SubjectPublicKey bytes: PKCS#1 RSAPublicKey, or the EC point."""
    key = x509.load_der_x509_certificate(cert_der).public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962,
                                serialization.PublicFormat.UncompressedPoint)
    raise CredSSPError("unsupported server key type %s" % type(key).__name__)


def tls_trailer_length(plain_len, tls_version, cipher):
    """pywinrm/pyspnego rule: TLS 1.3 -> 17; GCM -> 16; CBC -> MAC + padding."""
    if tls_version == "TLSv1.3":
        return 17
    if "-GCM-" in cipher or "_GCM_" in cipher:
        return 16
    mac = {"MD5": 16, "SHA": 20, "SHA256": 32, "SHA384": 48}[cipher.rsplit("-", 1)[-1]]
    if "RC4" in cipher:
        return mac
    block = 8 if "DES" in cipher else 16
    return mac + block - (plain_len + mac) % block


class CredSSPClient:
    """The client side of MS-CSSP 3.1.5 over memory BIOs."""

    def __init__(self, user, domain, password, inner="ntlm", *, tls_min="1.2", tls_max="1.2",
                 min_version=5, client_version=6, ca_file=None, server_hostname="localhost",
                 target_host="localhost", service="HTTP", realm=None, spnego=True,
                 krb_wrap="std", tls13_finished_alone=False, check_trailer=True):
        if inner not in ("ntlm", "kerberos"):
            raise ValueError("inner must be 'ntlm' or 'kerberos'")
        self.user, self.domain, self.password = user, domain or "", password
        self.inner, self.spnego, self.krb_wrap = inner, spnego, krb_wrap
        self.realm, self.service, self.target_host = realm, service, target_host
        self.min_version, self.client_version = min_version, client_version
        self.tls13_finished_alone = tls13_finished_alone
        self.check_trailer = check_trailer
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)     # TLS 1.0/1.1 on request
            ctx.minimum_version = TLS_VERSIONS[tls_min]
            ctx.maximum_version = TLS_VERSIONS[tls_max]
        if tls_min in ("1.0", "1.1"):
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        if ca_file:
            ctx.load_verify_locations(ca_file)
        else:
            # CredSSP's own check is pubKeyAuth; a test may still pin the CA.
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = ctx.wrap_bio(self._in, self._out, server_hostname=server_hostname)
        self._gss = None
        self._gen = self._run()
        self._started = False
        self.complete = False
        self.version = None             # negotiated CredSSP version
        self.server_version = None
        self.sent_credentials = False

    # -- driving -----------------------------------------------------------
    def step(self, in_token=None):
        """Feed the server's token (None to start); the next client token, or
        None when there is nothing more to send."""
        try:
            if not self._started:
                self._started = True
                return next(self._gen)
            return self._gen.send(in_token)
        except StopIteration:
            return None

    def _run(self):
        pending = yield from self._tls_handshake()
        spki = server_public_key(self._tls.getpeercert(True))
        self._gss = self._gss_context()
        tok = self._gss.step()
        for _ in range(MAX_ROUNDS):
            resp = yield from self._exchange(pending, encode_ts_request(self.client_version, tok))
            pending = b""
            self._learn_version(resp["version"])
            if not resp["nego_tokens"]:
                raise CredSSPError("server TSRequest has no negoTokens")
            tok = self._gss.step(resp["nego_tokens"][0])
            # NTLM's AUTHENTICATE travels with pubKeyAuth (SPNEGO is not yet
            # complete then: the server's mechListMIC is still to come).
            if self._gss.complete or (tok and NTLM_AUTHENTICATE in tok):
                break
        else:
            raise CredSSPError("SPNEGO did not finish in %d rounds" % MAX_ROUNDS)

        nonce = os.urandom(32) if self.version >= 5 else None
        proof = hashlib.sha256(CLIENT_MAGIC + nonce + spki).digest() if nonce else spki
        resp = yield from self._exchange(b"", encode_ts_request(
            self.client_version, tok, pub_key_auth=self._wrap(proof), client_nonce=nonce))
        if resp["nego_tokens"]:
            self._gss.step(resp["nego_tokens"][0])
        if not self._gss.complete:
            raise CredSSPError("SPNEGO incomplete after the public key exchange")
        if "pub_key_auth" not in resp:
            raise PubKeyAuthRefused("server sent no pubKeyAuth; credentials not sent")
        expected = hashlib.sha256(SERVER_MAGIC + nonce + spki).digest() if nonce \
            else bytes([(spki[0] + 1) & 0xFF]) + spki[1:]
        if self._unwrap(resp["pub_key_auth"]) != expected:
            raise PubKeyAuthRefused("server pubKeyAuth does not match the TLS certificate "
                                    "key; credentials not sent")

        creds = encode_password_creds(self.domain, self.user, self.password)
        final = encode_ts_request(self.client_version, auth_info=self._wrap(creds))
        self.complete = self.sent_credentials = True
        yield self._tls_write(final)

    def _tls_handshake(self):
        """Returns TLS bytes still to send (TLS 1.3 client Finished) or b''."""
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            in_tok = yield self._out.read()
            if not in_tok:
                raise CredSSPError("server sent no token during the TLS handshake")
            self._in.write(in_tok)
        pending = self._out.read()
        if pending and self.tls13_finished_alone:
            # pyspnego's way: Finished alone; the server answers with tickets.
            in_tok = yield pending
            if not in_tok:
                raise CredSSPError("server sent nothing after the client Finished")
            self._in.write(in_tok)
            pending = b""
        cipher = self._tls.cipher()
        self.tls_version, self.cipher = self._tls.version(), cipher[0]
        return pending

    def _exchange(self, pending, ts_request):
        in_tok = yield pending + self._tls_write(ts_request)
        if not in_tok:
            raise CredSSPError("server sent no CredSSP token")
        resp = decode_ts_request(self._tls_read(in_tok))
        if "error_code" in resp:
            raise ServerErrorCode(resp["error_code"])
        return resp

    def _learn_version(self, server_version):
        if self.version is not None:
            return
        self.server_version = server_version
        self.version = min(server_version, self.client_version)
        if self.version < self.min_version:
            raise CredSSPError("server CredSSP version %d is below the minimum %d"
                               % (self.version, self.min_version))

    # -- TLS ---------------------------------------------------------------
    def _tls_write(self, data):
        self._tls.write(data)
        return self._out.read()

    def _tls_read(self, records):
        self._in.write(records)
        chunks = []
        while True:
            try:
                data = self._tls.read(CHUNK)
            except ssl.SSLWantReadError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)

    # -- GSS ---------------------------------------------------------------
    def _gss_context(self):
        if self.inner == "ntlm":
            inner_mech = OID_NTLM
            name = gssapi.Name("%s\\%s" % (self.domain, self.user) if self.domain else self.user,
                               gssapi.NameType.user)
        else:
            inner_mech = OID_KRB5
            principal = self.user if "@" in self.user or not self.realm \
                else "%s@%s" % (self.user, self.realm)
            name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
        mech = OID_SPNEGO if self.spnego else inner_mech
        cred = gssraw.acquire_cred_with_password(name, self.password.encode(),
                                                 usage="initiate", mechs=[mech]).creds
        if self.spnego:
            gssraw.set_neg_mechs(cred, [inner_mech])
        flags = (gssapi.RequirementFlag.mutual_authentication | gssapi.RequirementFlag.integrity
                 | gssapi.RequirementFlag.confidentiality
                 | gssapi.RequirementFlag.out_of_sequence_detection)
        target = gssapi.Name("%s@%s" % (self.service, self.target_host),
                             gssapi.NameType.hostbased_service)
        return gssapi.SecurityContext(name=target, creds=gssapi.Credentials(base=cred),
                                      mech=mech, flags=flags, usage="initiate")

    def _wrap(self, data):
        if self.inner == "kerberos" and self.krb_wrap == "iov":
            iov = gssraw.IOV(gssraw.IOVBufferType.header, data, gssraw.IOVBufferType.padding,
                             std_layout=False)
            gssraw.wrap_iov(self._gss, iov, confidential=True)
            return b"".join(bytes(b.value or b"") for b in iov)
        return self._gss.wrap(data, True).message

    def _unwrap(self, data):
        res = self._gss.unwrap(data)
        if not res.encrypted:
            raise CredSSPError("server pubKeyAuth was not encrypted")
        return res.message

    # -- message encryption ------------------------------------------------
    def seal(self, plaintext):
        """(length_field, payload) for one chunk of at most 16384 bytes."""
        if not 0 < len(plaintext) <= CHUNK:
            raise ValueError("seal takes 1..%d bytes" % CHUNK)
        return tls_trailer_length(len(plaintext), self.tls_version, self.cipher), \
            self._tls_write(plaintext)

    def unseal(self, length_field, payload):
        plain = self._tls_read(payload)
        want = tls_trailer_length(len(plain), self.tls_version, self.cipher)
        if self.check_trailer and length_field != want:
            raise CredSSPError("server length field %d, expected trailer length %d"
                               % (length_field, want))
        return plain


# -- MS-WSMV 2.2.9.1 framing ---------------------------------------------------
BOUNDARY = b"--Encrypted Boundary"
_PART = re.compile(rb"--\s*Encrypted Boundary\r\n\tContent-Type: ([^\r]*)\r\n"
                   rb"\tOriginalContent: type=[^;\r]*;charset=[^;\r]*;Length=(\d+)\r\n"
                   rb"--\s*Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n")


def encrypt_body(client, body):
    """(content_type, multipart body): 16384-byte chunks, x-multi if several."""
    chunks = [body[i:i + CHUNK] for i in range(0, len(body), CHUNK)]
    out = []
    for chunk in chunks:
        length_field, payload = client.seal(chunk)
        out.append(BOUNDARY + b"\r\n\tContent-Type: " + PROTOCOL.encode() +
                   b"\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" +
                   str(len(chunk)).encode() + b"\r\n" + BOUNDARY +
                   b"\r\n\tContent-Type: application/octet-stream\r\n" +
                   struct.pack("<I", length_field) + payload)
    out.append(BOUNDARY + b"--\r\n")
    kind = "multipart/x-multi-encrypted" if len(chunks) > 1 else "multipart/encrypted"
    return '%s;protocol="%s";boundary="Encrypted Boundary"' % (kind, PROTOCOL), b"".join(out)


def decrypt_body(client, body):
    out, pos = [], 0
    while True:
        m = _PART.match(body, pos)
        if not m:
            break
        if m.group(1).decode("latin-1") != PROTOCOL:
            raise CredSSPError("part protocol %r" % m.group(1))
        length = int(m.group(2))
        end = re.compile(rb"--\s*Encrypted Boundary").search(body, m.end())
        if not end:
            raise CredSSPError("encrypted part without a closing boundary")
        data = body[m.end():end.start()]
        if len(data) < 4:
            raise CredSSPError("encrypted part shorter than its length field")
        plain = client.unseal(struct.unpack("<I", data[:4])[0], data[4:])
        if len(plain) != length:
            raise CredSSPError("decrypted %d bytes, OriginalContent says %d" % (len(plain), length))
        out.append(plain)
        pos = end.start()
    if not out or not re.match(rb"--\s*Encrypted Boundary--", body[pos:]):
        raise CredSSPError("malformed multipart/encrypted response")
    return b"".join(out)


class CredSSPTransport:
    """post(body) -> (status, plaintext response body), CredSSP-authenticated
    and encrypted, over one keep-alive connection (HTTP or HTTPS)."""

    def __init__(self, url, user, domain, password, inner="ntlm", tls_max="1.2", min_version=5,
                 client_version=6, ca_file=None, timeout=120, **client_kw):
        u = urllib.parse.urlsplit(url)
        self.host, self.path = u.hostname, u.path or "/wsman"
        if u.scheme == "https":
            ctx = ssl.create_default_context(cafile=ca_file) if ca_file \
                else ssl._create_unverified_context()
            self.conn = http.client.HTTPSConnection(self.host, u.port or 5986, context=ctx,
                                                    timeout=timeout)
        else:
            self.conn = http.client.HTTPConnection(self.host, u.port or 5985, timeout=timeout)
        self.client = CredSSPClient(user, domain, password, inner, tls_max=tls_max,
                                    min_version=min_version, client_version=client_version,
                                    ca_file=ca_file, server_hostname=self.host,
                                    target_host=self.host, **client_kw)
        self.authenticated = False

    def _request(self, body, headers):
        hdrs = {"Content-Type": "application/soap+xml;charset=UTF-8",
                "Content-Length": str(len(body)), "Connection": "Keep-Alive"}
        hdrs.update(headers)
        self.conn.request("POST", self.path, body=body, headers=hdrs)
        resp = self.conn.getresponse()
        data = resp.read(MAX_RESPONSE + 1)
        if len(data) > MAX_RESPONSE:
            raise CredSSPError("response larger than %d bytes" % MAX_RESPONSE)
        return resp.status, resp, data

    @staticmethod
    def _server_token(resp):
        for value in resp.headers.get_all("WWW-Authenticate") or []:
            scheme, _, tok = value.strip().partition(" ")
            if scheme.lower() == "credssp" and tok.strip():
                return base64.b64decode(tok.strip(), validate=True)
        return None

    def authenticate(self):
        tok = self.client.step(None)
        while tok is not None:
            status, resp, _ = self._request(b"", {"Authorization": "CredSSP " +
                                                   base64.b64encode(tok).decode()})
            if self.client.complete:
                if status != 200:
                    raise CredSSPError("final CredSSP request got HTTP %d" % status)
                break
            server_tok = self._server_token(resp)
            if status != 401 or server_tok is None:
                raise CredSSPError("CredSSP handshake got HTTP %d without a token" % status)
            tok = self.client.step(server_tok)
        self.authenticated = True

    def post(self, body):
        if not self.authenticated:
            self.authenticate()
        ctype, enc = encrypt_body(self.client, body)
        status, resp, data = self._request(enc, {"Content-Type": ctype})
        rtype = resp.headers.get("Content-Type", "")
        if PROTOCOL in rtype:
            return status, decrypt_body(self.client, data)
        return status, data

    def close(self):
        self.conn.close()
