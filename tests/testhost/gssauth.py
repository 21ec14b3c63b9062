"""Negotiate and Kerberos acceptors for the WinRM test host.

HTTP authentication as in RFC 4559 / MS-WSMV: 'Negotiate' takes SPNEGO (Kerberos
or NTLM inside), a raw Kerberos AP-REQ, or raw NTLMSSP (Windows accepts raw
NTLMSSP under Negotiate, and pywinrm/requests-ntlm and go-ntlmssp send it);
'Kerberos' takes a raw Kerberos AP-REQ only. GSSAPI does the work: MIT krb5
with the gss-ntlmssp plugin, configured through the environment
(KRB5_KTNAME, NTLM_USER_FILE, NETBIOS_DOMAIN_NAME).

Message encryption (MS-WSMV 2.2.9.1.1): the Length-Field holds the length of
the encryption header, the payload is header followed by the encrypted data.
  NTLM:     gss_wrap output is the 16-byte MS-NLMP signature then the sealed
            data, exactly the WinRM layout (gss-ntlmssp has no gss_wrap_iov).
  Kerberos: gss_wrap_iov over HEADER, DATA, PADDING with no TRAILER buffer, so
            MIT folds the RFC 4121 trailer into the header (RRC=28, as SSPI's
            EncryptMessage does); with AES the header is 60 bytes, padding 0.

Channel binding (HTTPS): cbt_app_data is 'tls-server-end-point:' + hash.
  Kerberos: MIT 1.20 fails a binding that is sent and wrong, and accepts a
            missing one; GSS_C_CHANNEL_BOUND_FLAG (0x800) in the returned flags
            tells "sent and matched" from "not sent".
  NTLM:     gss-ntlmssp 1.2.0 behaves the same way (absent or all-zero
            MsvAvChannelBindings accepted, 0x800 set on a match). We also read
            MsvAvChannelBindings from the AUTHENTICATE message ourselves so the
            log says exactly what the client sent.
"""
import hashlib
import struct

import gssapi
import gssapi.raw as gss
from gssapi.raw import IOV, IOVBufferType

from authbase import AuthError

KRB5_OID = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")
MS_KRB5_OID = gssapi.OID.from_int_seq("1.2.840.48018.1.2.2")   # Windows' alias in SPNEGO
NTLM_OID = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")

# DER of the mechanism OIDs as they appear in a GSS initial-context token.
_DER_SPNEGO = bytes.fromhex("06062b0601050502")
_DER_KRB5 = bytes.fromhex("06092a864886f712010202")
_DER_MS_KRB5 = bytes.fromhex("06092a864882f712010202")

_NTLMSSP = b"NTLMSSP\x00"
_MSV_AV_EOL = 0x0000
_MSV_AV_CHANNEL_BINDINGS = 0x000A

GSS_C_DELEG_FLAG = 0x1
GSS_C_MUTUAL_FLAG = 0x2
GSS_C_CONF_FLAG = 0x10
GSS_C_CHANNEL_BOUND_FLAG = 0x800

MAX_TOKEN = 64 * 1024      # one Authorization header's worth of token
MAX_STEPS = 6              # SPNEGO-NTLM needs 3 legs; anything longer is broken
MAX_AV_PAIRS = 64          # MS-NLMP defines about a dozen AvIds
MAX_KRB_HEADER = 1024      # RFC 4121 header + trailer is under 100 bytes

PROTOCOLS = {
    "Negotiate": "application/HTTP-SPNEGO-session-encrypted",
    "Kerberos": "application/HTTP-Kerberos-session-encrypted",
}


# ---------------------------------------------------------------- token parsing

def _der_item(buf, pos, end):
    """One DER TLV at pos (single-byte tags only, as in SPNEGO).
    Returns (tag, value_start, value_end); ValueError when it does not fit."""
    if pos + 2 > end:
        raise ValueError("truncated DER item")
    tag, length = buf[pos], buf[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > end:
            raise ValueError("bad DER length")
        length = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    if pos + length > end:
        raise ValueError("DER item runs past its container")
    return tag, pos, pos + length


def _der_children(buf, start, end):
    pos = start
    while pos < end:
        tag, vs, ve = _der_item(buf, pos, end)
        yield tag, vs, ve
        pos = ve


def token_kind(token):
    """'ntlm', 'kerberos' or 'spnego' for a client's first token, else None."""
    if token.startswith(_NTLMSSP):
        return "ntlm"
    if token[:1] != b"\x60":
        return None
    try:
        _, vs, ve = _der_item(token, 0, len(token))
        tag, os_, oe = _der_item(token, vs, ve)
    except ValueError:
        return None
    oid = token[vs:oe]
    if tag != 0x06:
        return None
    if oid == _DER_SPNEGO:
        return "spnego"
    if oid in (_DER_KRB5, _DER_MS_KRB5):
        return "kerberos"
    return None


def spnego_mech_token(token):
    """The mechanism token inside a SPNEGO NegTokenInit (mechToken) or
    NegTokenResp (responseToken); None when there is none. ValueError when
    the DER is malformed."""
    end = len(token)
    if token[:1] == b"\x60":                      # [APPLICATION 0] { OID, NegTokenInit }
        _, vs, ve = _der_item(token, 0, end)
        _, _, oe = _der_item(token, vs, ve)        # thisMech OID
        tag, vs, ve = _der_item(token, oe, ve)
        if tag != 0xA0:                            # [0] NegTokenInit
            return None
    elif token[:1] == b"\xa1":                    # [1] NegTokenResp
        _, vs, ve = _der_item(token, 0, end)
    else:
        return None
    tag, vs, ve = _der_item(token, vs, ve)
    if tag != 0x30:
        raise ValueError("SPNEGO token is not a SEQUENCE")
    for tag, cs, ce in _der_children(token, vs, ve):
        if tag == 0xA2:                            # mechToken / responseToken
            otag, os_, oe = _der_item(token, cs, ce)
            if otag != 0x04:
                raise ValueError("SPNEGO mech token is not an OCTET STRING")
            return token[os_:oe]
    return None


def ntlm_channel_binding(msg):
    """MsvAvChannelBindings (16 bytes) of an NTLM AUTHENTICATE message, or None
    when absent. MS-NLMP 2.2.1.3 (NtChallengeResponseFields at offset 20),
    2.2.2.8 (NTLMv2_RESPONSE: 16-byte NTProofStr, then NTLMv2_CLIENT_CHALLENGE
    whose AvPairs start 28 bytes in), 2.2.2.1 (AV_PAIR). ValueError if malformed."""
    if len(msg) < 28 or not msg.startswith(_NTLMSSP):
        raise ValueError("AUTHENTICATE message too short")
    length, _, offset = struct.unpack_from("<HHI", msg, 20)
    if offset + length > len(msg):
        raise ValueError("NtChallengeResponse runs past the message")
    nt = msg[offset:offset + length]
    if len(nt) <= 24:
        return None                                # NTLMv1: no AV pairs at all
    if len(nt) < 44:
        raise ValueError("NTLMv2 response too short")
    pos = 44
    for _ in range(MAX_AV_PAIRS):
        if pos + 4 > len(nt):
            raise ValueError("AV pair list is not terminated")
        av_id, av_len = struct.unpack_from("<HH", nt, pos)
        pos += 4
        if pos + av_len > len(nt):
            raise ValueError("AV pair %#x runs past the response" % av_id)
        if av_id == _MSV_AV_EOL:
            return None
        if av_id == _MSV_AV_CHANNEL_BINDINGS:
            if av_len != 16:
                raise ValueError("MsvAvChannelBindings is %d bytes, not 16" % av_len)
            return nt[pos:pos + 16]
        pos += av_len
    raise ValueError("more than %d AV pairs" % MAX_AV_PAIRS)


def binding_hash(app_data):
    """MD5 of gss_channel_bindings_struct with only application data, as NTLM
    carries it: four zero uint32 (addrtypes, address lengths), length, data."""
    return hashlib.md5(b"\x00" * 16 + struct.pack("<I", len(app_data)) + app_data).digest()


def _ntlm_authenticate(token, kind):
    """The NTLM AUTHENTICATE message this client token carries, or None."""
    inner = token if kind == "ntlm" else spnego_mech_token(token)
    if inner and inner.startswith(_NTLMSSP) and len(inner) >= 12 \
            and struct.unpack_from("<I", inner, 8)[0] == 3:
        return inner
    return None


# ---------------------------------------------------------------- the acceptor

class GssAcceptor:
    """One Negotiate or Kerberos authentication exchange on one connection."""

    def __init__(self, scheme, *, cbt_app_data=None, strict_cbt=False, log=None):
        if scheme not in PROTOCOLS:
            raise ValueError("GssAcceptor scheme must be Negotiate or Kerberos, not %r" % scheme)
        self.scheme = scheme
        self.protocol = PROTOCOLS[scheme]
        self.principal = None
        self.mechanism = None
        self.info = {}
        self.complete = False
        self.delegated_creds = None
        self._cbt = cbt_app_data
        self._strict = strict_cbt
        self._log = log or (lambda record: None)
        self._ctx = None
        self._kind = None
        self._ntlm_cbt_sent = None      # from our own AUTHENTICATE parse
        self._steps = 0
        self._failed = False

    # ---- authentication

    def step(self, token):
        try:
            return self._step(token)
        except AuthError as e:
            self._fail(str(e))
            raise
        except gssapi.exceptions.GSSError as e:
            reason = "GSS accept failed: %s" % e
            if self._ntlm_cbt_sent is not None:
                reason += " (gss-ntlmssp reports a wrong user or password this way)"
        except ValueError as e:
            reason = "malformed %s token: %s" % (self._kind or "authentication", e)
        self._fail(reason)
        raise AuthError(reason)

    def _step(self, token):
        if self._failed:
            raise AuthError("authentication on this connection already failed")
        if self.complete:
            raise AuthError("authentication is already complete")
        self._steps += 1
        if self._steps > MAX_STEPS:
            raise AuthError("too many authentication legs (%d)" % self._steps)
        if not token:
            raise AuthError("empty %s token" % self.scheme)
        if len(token) > MAX_TOKEN:
            raise AuthError("token of %d bytes exceeds %d" % (len(token), MAX_TOKEN))
        if self._ctx is None:
            self._start(token)
        if self._kind in ("ntlm", "spnego"):
            self._check_ntlm_binding(token)
        out = self._ctx.step(token)
        if self._ctx.complete:
            self._finish()
        return (out or None), self.complete

    def _start(self, token):
        self._kind = token_kind(token)
        if self._kind is None:
            raise AuthError("%s token is neither SPNEGO, Kerberos nor NTLMSSP" % self.scheme)
        if self.scheme == "Kerberos" and self._kind != "kerberos":
            raise AuthError("the Kerberos scheme takes a raw Kerberos AP-REQ, got %s" % self._kind)
        # Negotiate needs the default credential: an explicit SPNEGO credential
        # rejects raw NTLMSSP, and an explicit list leaves out one of them.
        creds = None
        if self.scheme == "Kerberos":
            creds = gssapi.Credentials(usage="accept", mechs=[KRB5_OID])
        bindings = gss.ChannelBindings(application_data=self._cbt) if self._cbt else None
        self._ctx = gssapi.SecurityContext(usage="accept", creds=creds, channel_bindings=bindings)

    def _check_ntlm_binding(self, token):
        msg = _ntlm_authenticate(token, self._kind)
        if msg is None:
            return
        cb = ntlm_channel_binding(msg)
        self._ntlm_cbt_sent = cb is not None and cb != b"\x00" * 16
        if self._ntlm_cbt_sent and self._cbt and cb != binding_hash(self._cbt):
            raise AuthError("NTLM channel binding mismatch: MsvAvChannelBindings does not "
                            "match this server's TLS certificate")

    def _finish(self):
        ctx = self._ctx
        if ctx.mech in (KRB5_OID, MS_KRB5_OID):
            self.mechanism = "kerberos"
        elif ctx.mech == NTLM_OID:
            self.mechanism = "ntlm"
        else:
            raise AuthError("unexpected GSS mechanism %s" % ctx.mech)
        flags = int(ctx.actual_flags)
        bound = bool(flags & GSS_C_CHANNEL_BOUND_FLAG)
        if self._cbt is None:
            cbt_seen = None
        elif self.mechanism == "ntlm" and self._ntlm_cbt_sent is not None:
            cbt_seen = self._ntlm_cbt_sent
        else:
            cbt_seen = bound
        if self._strict and not cbt_seen:
            raise AuthError("channel binding required (CbtHardeningLevel=Strict) but the "
                            "client sent none")
        self.delegated_creds = ctx.delegated_creds
        # python-gssapi leaves gss-ntlmssp's terminating NUL in the name.
        self.principal = str(ctx.initiator_name).rstrip("\x00")
        self.info = {
            "spnego": self._kind == "spnego",
            "cbt_seen": cbt_seen,
            "delegation": bool(flags & GSS_C_DELEG_FLAG) or self.delegated_creds is not None,
            "mutual": bool(flags & GSS_C_MUTUAL_FLAG),
            "confidentiality": bool(flags & GSS_C_CONF_FLAG),
        }
        self.complete = True
        # httpserver logs the 'auth' event, with the connection id.

    def _fail(self, reason):
        # The AuthError raised after this reaches httpserver, which logs it.
        self._failed = True

    # ---- message encryption

    def seal(self, plaintext):
        self._need_complete("seal")
        try:
            if self.mechanism == "ntlm":
                return self._seal_ntlm(plaintext)
            return self._seal_kerberos(plaintext)
        except gssapi.exceptions.GSSError as e:
            raise self._seal_error("seal failed: %s" % e) from None

    def unseal(self, length_field, payload):
        self._need_complete("unseal")
        try:
            if self.mechanism == "ntlm":
                return self._unseal_ntlm(length_field, payload)
            return self._unseal_kerberos(length_field, payload)
        except gssapi.exceptions.GSSError as e:
            raise self._seal_error("unseal failed: %s" % e) from None

    def _seal_ntlm(self, plaintext):
        if not plaintext:
            raise self._seal_error("NTLM cannot seal an empty message (gss-ntlmssp refuses)")
        res = gss.wrap(self._ctx, plaintext, confidential=True)
        if not res.encrypted or len(res.message) != len(plaintext) + 16:
            raise self._seal_error("gss_wrap did not produce signature + sealed data")
        return 16, res.message

    def _unseal_ntlm(self, length_field, payload):
        if length_field != 16:
            raise self._seal_error("NTLM signature length is %d, not 16" % length_field)
        if len(payload) <= 16:
            raise self._seal_error("NTLM payload of %d bytes has no data" % len(payload))
        res = gss.unwrap(self._ctx, payload)
        if not res.encrypted:
            raise self._seal_error("NTLM message was signed but not sealed")
        return res.message

    def _seal_kerberos(self, plaintext):
        iov = IOV(IOVBufferType.header, plaintext, IOVBufferType.padding, std_layout=False)
        if not gss.wrap_iov(self._ctx, iov, confidential=True):
            raise self._seal_error("gss_wrap_iov did not encrypt")
        header = iov[0].value or b""
        return len(header), header + (iov[1].value or b"") + (iov[2].value or b"")

    def _unseal_kerberos(self, length_field, payload):
        if not 16 <= length_field <= min(len(payload), MAX_KRB_HEADER):
            raise self._seal_error("Kerberos header length %d does not fit a payload of %d"
                                   % (length_field, len(payload)))
        iov = IOV((IOVBufferType.header, False, payload[:length_field]),
                  payload[length_field:], std_layout=False)
        res = gss.unwrap_iov(self._ctx, iov)
        if not res.encrypted:
            raise self._seal_error("Kerberos message was signed but not sealed")
        return iov[1].value or b""

    def _need_complete(self, what):
        if not self.complete:
            raise AuthError("cannot %s before authentication is complete" % what)

    def _seal_error(self, reason):
        return AuthError(reason)
