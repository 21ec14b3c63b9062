"""CredSSP acceptor (MS-CSSP) for the WinRM test host.

The exchange, one HTTP round trip per step() (tokens in
'Authorization: CredSSP <b64>' / 'WWW-Authenticate: CredSSP <b64>'):
  1. TLS handshake, raw TLS records as tokens (server side over memory BIOs).
  2. TLS-wrapped TSRequests carrying SPNEGO (or raw NTLM / Kerberos) tokens,
     accepted with the default GSS acceptor credential (KRB5_KTNAME,
     NTLM_USER_FILE, NETBIOS_DOMAIN_NAME from the environment).
  3. pubKeyAuth: the client proves the TLS server key it saw (3.1.5 step 3);
     the server answers with its own proof (step 4).
  4. authInfo: the delegated TSCredentials (step 5); complete.
Afterwards seal()/unseal() are TLS records of the same TLS session
(MS-WSMV 2.2.9.1.3, application/HTTP-CredSSP-session-encrypted).
"""
import functools
import hashlib
import os
import re
import ssl
import warnings

import gssapi
import gssapi.raw as gssraw

import tsrequest
from authbase import AuthError

PROTOCOL = "application/HTTP-CredSSP-session-encrypted"
MAX_TOKEN = 96 * 1024           # one base64-decoded CredSSP token
MAX_ROUNDS = 12                 # step() calls before we give up on a client
MAX_RECORD_PLAIN = 16384        # TLS plaintext record limit (RFC 8446 5.1)
RECORD_HEADER = 5
MAX_RECORDS_PER_PART = 4

STATUS_LOGON_FAILURE = 0xC000006D

OID_KRB5 = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")
OID_KRB5_OLD = gssapi.OID.from_int_seq("1.2.840.48018.1.2.2")   # MS Kerberos
OID_NTLM = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")
SPNEGO_OID_DER = bytes.fromhex("06062b0601050502")

CLIENT_MAGIC = b"CredSSP Client-To-Server Binding Hash\x00"
SERVER_MAGIC = b"CredSSP Server-To-Client Binding Hash\x00"

TLS_VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}

# TLS 1.2 suites SChannel offers (no ChaCha20, CCM or ARIA: Windows has none,
# and the WinRM trailer formula below only knows GCM and CBC). TLS 1.3 suites
# cannot be set from Python; OpenSSL's server preference picks AES-256-GCM.
DEFAULT_CIPHERS = ":".join([
    "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA256",
    "ECDHE-RSA-AES256-SHA", "ECDHE-RSA-AES128-SHA",
    "AES256-GCM-SHA384", "AES128-GCM-SHA256",
    "AES256-SHA256", "AES128-SHA256", "AES256-SHA", "AES128-SHA",
])

# OpenSSL option bits Python does not name.
OP_NO_ENCRYPT_THEN_MAC = 0x00080000         # SChannel has no RFC 7366
OP_DONT_INSERT_EMPTY_FRAGMENTS = 0x00000800  # one record per write, even TLS 1.0 CBC

MAC_LENGTHS = {"MD5": 16, "SHA": 20, "SHA256": 32, "SHA384": 48}


def trailer_length(plain_len, tls_version, cipher):
    """The WinRM CredSSP length field: the TLS trailer SChannel reports for
    one record (SecPkgContext_StreamSizes.cbTrailer as filled by EncryptMessage).

      TLS 1.3 (any AEAD suite)   17 = 16-byte tag + 1 byte inner content type
      TLS 1.2 AES-GCM            16 = the tag (the 8-byte explicit nonce is header)
      CBC + HMAC (MAC-then-encrypt, no encrypt_then_mac)
                                 mac + pad, pad = block - (plain_len + mac) % block,
                                 counting the padding-length byte (1..block);
                                 mac: MD5 16, SHA 20, SHA256 32, SHA384 48;
                                 block: 16 for AES, 8 for (3)DES, RC4: pad = 0

    Source: pywinrm winrm/encryption.py _get_credssp_trailer_length and
    pyspnego spnego/_credssp.py _tls_trailer_length (which adds the TLS 1.3
    case); the record sizes measured with OpenSSL agree (see the self-test).
    """
    if tls_version == "TLSv1.3":
        return 17
    if re.search(r"[-_]GCM[-_]", cipher):
        return 16
    mac = MAC_LENGTHS.get(cipher.split("-")[-1])
    if mac is None or "CHACHA" in cipher or "CCM" in cipher:
        raise AuthError("no WinRM trailer rule for cipher suite %s" % cipher)
    if "RC4" in cipher:
        return mac
    block = 8 if "DES" in cipher else 16
    return mac + block - (plain_len + mac) % block


def _tls_version(name, default):
    value = str(name if name is not None else default)
    if value not in TLS_VERSIONS:
        raise ValueError("unknown TLS version %r (one of %s)" % (value, ", ".join(TLS_VERSIONS)))
    return value


@functools.lru_cache(maxsize=16)
def _server_context(cert_file, key_file, cert_mtime, tls_min, tls_max, ciphers):
    # cert_mtime is only part of the cache key: a replaced certificate gets a new context.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)     # TLS 1.0/1.1 on request
        ctx.minimum_version = TLS_VERSIONS[tls_min]
        ctx.maximum_version = TLS_VERSIONS[tls_max]
    # TLS 1.0/1.1 and SHA-1 MACs need security level 0 with OpenSSL 3.
    ctx.set_ciphers(ciphers + (":@SECLEVEL=0" if tls_min in ("1.0", "1.1") else ""))
    ctx.options |= OP_NO_ENCRYPT_THEN_MAC | OP_DONT_INSERT_EMPTY_FRAGMENTS
    return ctx


def _first_cert_der(cert_file):
    with open(cert_file) as f:
        pem = f.read()
    end = pem.find("-----END CERTIFICATE-----")
    if end < 0:
        raise ValueError("no certificate in %s" % cert_file)
    return ssl.PEM_cert_to_DER_cert(pem[:end + len("-----END CERTIFICATE-----")])


def client_pubkey_auth(spki, nonce):
    """What the client wraps into pubKeyAuth (MS-CSSP 3.1.5 step 3)."""
    if nonce is not None:
        return hashlib.sha256(CLIENT_MAGIC + nonce + spki).digest()
    return spki


def server_pubkey_auth(spki, nonce):
    """What the server wraps into its pubKeyAuth answer (3.1.5 step 4)."""
    if nonce is not None:
        return hashlib.sha256(SERVER_MAGIC + nonce + spki).digest()
    return bytes([(spki[0] + 1) & 0xFF]) + spki[1:]


class CredSSPAcceptor:
    scheme = "CredSSP"
    protocol = PROTOCOL

    def __init__(self, *, cert_file, key_file, log, config=None):
        config = config or {}
        self._log_fn = log
        self._max_version = int(config.get("credssp_max_version", 6))
        self._min_version = int(config.get("credssp_min_version", 2))
        if not 2 <= self._min_version <= self._max_version <= 6:
            raise ValueError("credssp_min_version/credssp_max_version must satisfy 2 <= min <= max <= 6")
        self._break_pubkey = bool(config.get("credssp_break_pubkey", False))
        self._accounts = config.get("accounts") if config.get("credssp_check_password", True) else None
        tls_min = _tls_version(config.get("credssp_tls_min"), "1.2")
        tls_max = _tls_version(config.get("credssp_tls_max"), "1.3")
        ciphers = str(config.get("credssp_ciphers") or DEFAULT_CIPHERS)
        ctx = _server_context(cert_file, key_file, os.stat(cert_file).st_mtime_ns,
                              tls_min, tls_max, ciphers)
        self._spki = tsrequest.subject_public_key(_first_cert_der(cert_file))

        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = ctx.wrap_bio(self._in, self._out, server_side=True)
        self._gss = None
        self._stage = "tls"     # tls -> auth -> pubkey_sent -> complete | failed
        self._rounds = 0
        self._version = None    # negotiated: min(client's, ours)
        self._nonce = None
        self._spnego = None

        self.complete = False
        self.principal = None
        self.mechanism = None
        self.info = {}

    # -- logging -----------------------------------------------------------
    def _log(self, event, **fields):
        self._log_fn(dict(event=event, **fields))

    def _fail(self, reason):
        """Log, mark the exchange dead and return the AuthError to raise."""
        if self._stage != "failed":
            self._log("credssp_error", stage=self._stage, reason=reason)
        self._stage = "failed"
        return AuthError("CredSSP: " + reason)

    # -- the exchange ------------------------------------------------------
    def step(self, token):
        if self._stage == "failed":
            raise AuthError("CredSSP: this exchange already failed")
        if self._stage == "complete":
            raise AuthError("CredSSP: exchange already complete")
        if not token:
            raise self._fail("empty token")
        if len(token) > MAX_TOKEN:
            raise self._fail("token of %d bytes exceeds %d" % (len(token), MAX_TOKEN))
        self._rounds += 1
        if self._rounds > MAX_ROUNDS:
            raise self._fail("more than %d rounds" % MAX_ROUNDS)
        try:
            return self._step(token)
        except ssl.SSLError as e:
            raise self._fail("TLS error: %s" % e)
        except tsrequest.TSRequestError as e:
            raise self._fail(str(e))
        except AuthError:
            raise
        except Exception as e:      # never let a client's token kill the connection thread
            raise self._fail("internal error on this token: %s: %s" % (type(e).__name__, e))

    def _step(self, token):
        self._in.write(token)
        if self._stage == "tls":
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                out = self._out.read()
                if not out:
                    raise self._fail("TLS handshake needs more data than the client sent")
                return out, False
            self._tls_done()
        plain = self._read_plain()
        if not plain:
            # The client's last handshake flight without data: send what TLS
            # still has (TLS 1.2 server Finished, TLS 1.3 session tickets).
            out = self._out.read()
            if not out:
                raise self._fail("token carried neither TLS handshake nor a TSRequest")
            return out, False
        reply = self._on_ts_request(tsrequest.decode_ts_request(plain))
        if reply is None:
            return None, True
        self._tls.write(tsrequest.encode_ts_request(reply))
        return self._out.read(), False

    def _tls_done(self):
        cipher = self._tls.cipher()
        self.info.update(tls_version=self._tls.version(), cipher=cipher[0] if cipher else None)
        self._stage = "auth"
        self._log("credssp_stage", stage="tls_done", tls_version=self.info["tls_version"],
                  cipher=self.info["cipher"])

    def _read_plain(self):
        chunks, total = [], 0
        while True:
            try:
                data = self._tls.read(MAX_RECORD_PLAIN)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                raise self._fail("client closed the TLS session")
            if not data:
                break
            total += len(data)
            if total > tsrequest.MAX_MESSAGE:
                raise self._fail("TSRequest larger than %d bytes" % tsrequest.MAX_MESSAGE)
            chunks.append(data)
        return b"".join(chunks)

    def _on_ts_request(self, req):
        if req.error_code is not None:
            raise self._fail("client reported errorCode 0x%08X" % req.error_code)
        if self._version is None:
            self._negotiate_version(req.version)
        if req.client_nonce is not None:
            self._take_nonce(req.client_nonce)
        if self._stage == "auth":
            return self._on_auth(req)
        return self._on_credentials(req)

    def _negotiate_version(self, client_version):
        if client_version < 2:
            raise self._fail("client announced CredSSP version %d" % client_version)
        self._version = min(client_version, self._max_version)
        self.info.update(credssp_version=self._version, credssp_client_version=client_version)
        self._log("credssp_stage", stage="version", client_version=client_version,
                  server_max=self._max_version, negotiated=self._version)
        if self._version < self._min_version:
            raise self._fail("client CredSSP version %d is below the required %d"
                             % (client_version, self._min_version))

    def _take_nonce(self, nonce):
        if self._version < 5:
            return      # the field does not exist before version 5
        if len(nonce) != tsrequest.NONCE_LEN:
            raise self._fail("clientNonce is %d bytes, not %d" % (len(nonce), tsrequest.NONCE_LEN))
        if self._nonce is not None and nonce != self._nonce:
            raise self._fail("clientNonce changed during the exchange")
        self._nonce = nonce

    def _reply(self, **fields):
        return tsrequest.TSRequest(version=self._version, **fields)

    def _on_auth(self, req):
        if req.auth_info is not None:
            raise self._fail("authInfo before the public key exchange")
        out = None
        if req.nego_tokens:
            out = self._gss_step(req.nego_tokens[0])
            if isinstance(out, tsrequest.TSRequest):
                return out      # errorCode reply
        if req.pub_key_auth is None:
            if not req.nego_tokens:
                raise self._fail("TSRequest has neither negoTokens nor pubKeyAuth")
            return self._reply(nego_tokens=[out] if out else [])
        if self._gss is None or not self._gss.complete:
            raise self._fail("pubKeyAuth before the SPNEGO exchange completed")
        answer = self._check_pubkey(req.pub_key_auth)
        self._stage = "pubkey_sent"
        return self._reply(nego_tokens=[out] if out else [], pub_key_auth=answer)

    def _gss_step(self, token):
        if self._gss is None:
            self._spnego = SPNEGO_OID_DER in token[:24]
            self._gss = gssapi.SecurityContext(usage="accept")
        if self._gss.complete:
            raise self._fail("negoTokens after the SPNEGO exchange completed")
        try:
            out = self._gss.step(token)
            # When a failure comes with a reject token, python-gssapi returns
            # the token and raises the error on the next use of the context.
            complete = self._gss.complete
        except gssapi.exceptions.GSSError as e:
            return self._gss_failed(str(e))
        self._log("credssp_stage", stage="spnego", complete=complete, spnego=self._spnego)
        if complete:
            self._gss_done()
        return out

    def _gss_failed(self, reason):
        # MS-CSSP 2.2.1: errorCode exists in versions 3, 4 and 6 only.
        if self._version in (3, 4, 6):
            self._fail("SPNEGO failed (errorCode sent): " + reason[:300])
            return self._reply(error_code=STATUS_LOGON_FAILURE)
        raise self._fail("SPNEGO failed: " + reason[:300])

    def _gss_done(self):
        mech = self._gss.mech
        kerberos = mech in (OID_KRB5, OID_KRB5_OLD)
        self.mechanism = "credssp-kerberos" if kerberos else "credssp-ntlm"
        self.info.update(inner="kerberos" if kerberos else "ntlm", spnego=self._spnego,
                         source_name=str(self._gss.initiator_name).rstrip("\x00"))

    # -- GSS message protection -------------------------------------------
    def _unwrap(self, data, what):
        try:
            res = self._gss.unwrap(data)
        except gssapi.exceptions.GSSError as e:
            raise self._fail("cannot unwrap %s: %s" % (what, str(e)[:200]))
        if not res.encrypted:
            raise self._fail("%s was not encrypted" % what)
        return res.message

    def _wrap(self, data):
        """Kerberos: token || data as SChannel's EncryptMessage(TOKEN, DATA)
        writes it (RFC 4121 wrap token with RRC 28, 60-byte header for AES);
        NTLM: the 16-byte signature followed by the sealed data."""
        if self.mechanism == "credssp-kerberos":
            iov = gssraw.IOV(gssraw.IOVBufferType.header, data,
                             gssraw.IOVBufferType.padding, std_layout=False)
            gssraw.wrap_iov(self._gss, iov, confidential=True)
            return b"".join(bytes(b.value or b"") for b in iov)
        return self._gss.wrap(data, True).message

    # -- public key binding ------------------------------------------------
    def _check_pubkey(self, pub_key_auth):
        nonce = self._nonce if self._version >= 5 else None
        if self._version >= 5 and nonce is None:
            raise self._fail("CredSSP version %d requires clientNonce with pubKeyAuth" % self._version)
        got = self._unwrap(pub_key_auth, "pubKeyAuth")
        if got != client_pubkey_auth(self._spki, nonce):
            self._log("credssp_pubkey_bad", version=self._version, nonce=nonce is not None)
            raise self._fail("client pubKeyAuth does not match the server certificate's key")
        self._log("credssp_pubkey_ok", version=self._version, nonce=nonce is not None)
        answer = server_pubkey_auth(self._spki, nonce)
        if self._break_pubkey:
            answer = bytes([answer[0] ^ 0xFF]) + answer[1:]
        self._log("credssp_pubkey_sent", version=self._version, broken=self._break_pubkey)
        return self._wrap(answer)

    # -- delegated credentials ---------------------------------------------
    def _on_credentials(self, req):
        if req.auth_info is None:
            raise self._fail("expected authInfo after the public key exchange")
        if req.nego_tokens or req.pub_key_auth is not None:
            raise self._fail("unexpected negoTokens/pubKeyAuth with authInfo")
        creds = tsrequest.decode_ts_credentials(self._unwrap(req.auth_info, "authInfo"))
        delegated = {"domain": creds.domain, "user": creds.user, "password": creds.password}
        self._log("credssp_delegated", **delegated)
        self._check_account(creds)
        self.principal = "%s\\%s" % (creds.domain, creds.user) if creds.domain else creds.user
        self.info["delegated"] = delegated
        self.complete = True
        self._stage = "complete"
        return None

    def _check_account(self, creds):
        # Windows logs the delegated credential on; a wrong password fails there.
        if not isinstance(self._accounts, dict):
            return
        user = creds.user.split("@")[0].lower()
        known = {k.lower(): v for k, v in self._accounts.items()}
        if known.get(user) != creds.password:
            raise self._fail("delegated credential for %r does not log on" % creds.user)

    # -- message encryption (MS-WSMV 2.2.9.1.3) ----------------------------
    def seal(self, plaintext):
        if not self.complete:
            raise AuthError("CredSSP: seal before authentication completed")
        if not plaintext or len(plaintext) > MAX_RECORD_PLAIN:
            raise AuthError("CredSSP: seal takes 1..%d bytes, got %d" % (MAX_RECORD_PLAIN, len(plaintext)))
        try:
            self._tls.write(plaintext)
        except ssl.SSLError as e:
            raise AuthError("CredSSP: TLS write failed: %s" % e)
        return trailer_length(len(plaintext), self.info["tls_version"], self.info["cipher"]), \
            self._out.read()

    def unseal(self, length_field, payload):
        if not self.complete:
            raise AuthError("CredSSP: unseal before authentication completed")
        _check_records(payload)
        self._in.write(payload)
        plain = self._read_sealed()
        expected = trailer_length(len(plain), self.info["tls_version"], self.info["cipher"])
        if length_field != expected:
            self._log("credssp_bad_trailer", got=length_field, expected=expected)
            raise AuthError("CredSSP: length field %d, expected the TLS trailer length %d"
                            % (length_field, expected))
        return plain

    def _read_sealed(self):
        chunks = []
        try:
            while True:
                data = self._tls.read(MAX_RECORD_PLAIN)
                if not data:
                    break
                chunks.append(data)
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as e:
            raise AuthError("CredSSP: TLS record rejected: %s" % e)
        plain = b"".join(chunks)
        if not plain:
            raise AuthError("CredSSP: encrypted part holds no application data")
        return plain


def _check_records(payload):
    """A sealed part is whole TLS application_data records: one for each
    seal() of TLS 1.1+, two for TLS 1.0 CBC where the sender splits records
    against BEAST (OpenSSL's empty fragment, SChannel's 1/n-1)."""
    pos, count = 0, 0
    while pos < len(payload):
        count += 1
        if count > MAX_RECORDS_PER_PART:
            raise AuthError("CredSSP: more than %d TLS records in one encrypted part"
                            % MAX_RECORDS_PER_PART)
        if len(payload) - pos < RECORD_HEADER:
            raise AuthError("CredSSP: truncated TLS record header")
        ctype, length = payload[pos], int.from_bytes(payload[pos + 3:pos + 5], "big")
        if ctype != 23:
            raise AuthError("CredSSP: TLS record type %d, not application data" % ctype)
        if length > MAX_RECORD_PLAIN + 2048:
            raise AuthError("CredSSP: TLS record length %d too large" % length)
        pos += RECORD_HEADER + length
        if pos > len(payload):
            raise AuthError("CredSSP: TLS record runs %d bytes past the encrypted part"
                            % (pos - len(payload)))
    if count == 0:
        raise AuthError("CredSSP: empty encrypted part")
