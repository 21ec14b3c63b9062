"""MS-CSSP 2.2.1 ASN.1 structures (TSRequest, NegoData, TSCredentials,
TSPasswordCreds, TSSmartCardCreds) with pyasn1, plus the SubjectPublicKey
that pubKeyAuth binds to.

The module is DEFINITIONS EXPLICIT TAGS: every [n] wraps the inner type, e.g.
  30 .. a0 03 02 01 06  a1 .. 30 .. 30 .. a0 .. 04 .. <token>
Decoding is bounded (MAX_MESSAGE bytes, MAX_NEGO_TOKENS entries, text field
sizes) and every failure is a TSRequestError with a readable message.
"""
from dataclasses import dataclass, field

from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.type import namedtype, tag, univ

MAX_MESSAGE = 64 * 1024         # one TSRequest / TSCredentials, decrypted
MAX_NEGO_TOKENS = 1             # Windows sends exactly one NegoData entry
MAX_TEXT_BYTES = 2048           # a UTF-16LE domain, user or password field
NONCE_LEN = 32                  # clientNonce, MS-CSSP 2.2.1

CRED_PASSWORD, CRED_SMARTCARD, CRED_REMOTE_GUARD = 1, 2, 6


class TSRequestError(ValueError):
    pass


def _ctx(n):
    return tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, n)


def _octets(n):
    return univ.OctetString().subtype(explicitTag=_ctx(n))


def _integer(n):
    return univ.Integer().subtype(explicitTag=_ctx(n))


class _NegoToken(univ.Sequence):
    componentType = namedtype.NamedTypes(namedtype.NamedType("negoToken", _octets(0)))


class _NegoData(univ.SequenceOf):
    componentType = _NegoToken()


class _TSRequest(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("version", _integer(0)),
        namedtype.OptionalNamedType("negoTokens", _NegoData().subtype(explicitTag=_ctx(1))),
        namedtype.OptionalNamedType("authInfo", _octets(2)),
        namedtype.OptionalNamedType("pubKeyAuth", _octets(3)),
        namedtype.OptionalNamedType("errorCode", _integer(4)),
        namedtype.OptionalNamedType("clientNonce", _octets(5)),
    )


class _TSCredentials(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("credType", _integer(0)),
        namedtype.NamedType("credentials", _octets(1)),
    )


class _TSPasswordCreds(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("domainName", _octets(0)),
        namedtype.NamedType("userName", _octets(1)),
        namedtype.NamedType("password", _octets(2)),
    )


class _TSCspDataDetail(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("keySpec", _integer(0)),
        namedtype.OptionalNamedType("cardName", _octets(1)),
        namedtype.OptionalNamedType("readerName", _octets(2)),
        namedtype.OptionalNamedType("containerName", _octets(3)),
        namedtype.OptionalNamedType("cspName", _octets(4)),
    )


class _TSSmartCardCreds(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("pin", _octets(0)),
        namedtype.NamedType("cspData", _TSCspDataDetail().subtype(explicitTag=_ctx(1))),
        namedtype.OptionalNamedType("userHint", _octets(2)),
        namedtype.OptionalNamedType("domainHint", _octets(3)),
    )


class _AlgorithmIdentifier(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("algorithm", univ.ObjectIdentifier()),
        namedtype.OptionalNamedType("parameters", univ.Any()),
    )


class _SubjectPublicKeyInfo(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("algorithm", _AlgorithmIdentifier()),
        namedtype.NamedType("subjectPublicKey", univ.BitString()),
    )


@dataclass
class TSRequest:
    version: int
    nego_tokens: list = field(default_factory=list)     # list of bytes
    auth_info: bytes = None
    pub_key_auth: bytes = None
    error_code: int = None          # NTSTATUS, as unsigned 32-bit
    client_nonce: bytes = None


@dataclass
class PasswordCreds:
    domain: str
    user: str
    password: str


def _decode(data, spec, what):
    if not isinstance(data, (bytes, bytearray)):
        raise TSRequestError("%s: expected bytes" % what)
    if len(data) > MAX_MESSAGE:
        raise TSRequestError("%s of %d bytes exceeds the %d-byte limit" % (what, len(data), MAX_MESSAGE))
    if not data:
        raise TSRequestError("%s is empty" % what)
    try:
        value, rest = der_decoder.decode(bytes(data), asn1Spec=spec)
    except Exception as e:     # pyasn1 raises several types on malformed input
        raise TSRequestError("bad DER in %s: %s" % (what, str(e)[:200])) from None
    if rest:
        raise TSRequestError("%d trailing bytes after %s" % (len(rest), what))
    return value


def _has(value, name):
    return value[name].isValue


def _opt_bytes(value, name):
    return bytes(value[name]) if _has(value, name) else None


def _text(value, name, what):
    raw = bytes(value[name])
    if len(raw) > MAX_TEXT_BYTES:
        raise TSRequestError("%s.%s is longer than %d bytes" % (what, name, MAX_TEXT_BYTES))
    if len(raw) % 2:
        raise TSRequestError("%s.%s has an odd length for UTF-16LE" % (what, name))
    try:
        return raw.decode("utf-16-le")
    except UnicodeDecodeError:
        raise TSRequestError("%s.%s is not valid UTF-16LE" % (what, name)) from None


def _to_ntstatus(v):
    # Some encoders write NTSTATUS as a negative INTEGER, some as positive.
    if not -(1 << 31) <= v < (1 << 32):
        raise TSRequestError("errorCode %d is not a 32-bit value" % v)
    return v & 0xFFFFFFFF


def encode_ts_request(req):
    v = _TSRequest()
    v["version"] = req.version
    if req.nego_tokens:
        nd = v["negoTokens"]
        for i, tok in enumerate(req.nego_tokens):
            nt = _NegoToken()
            nt["negoToken"] = tok
            nd.setComponentByPosition(i, nt)
    for name, val in (("authInfo", req.auth_info), ("pubKeyAuth", req.pub_key_auth),
                      ("clientNonce", req.client_nonce)):
        if val is not None:
            v[name] = val
    if req.error_code is not None:
        # Written unsigned (positive INTEGER), as pyspnego and FreeRDP do.
        v["errorCode"] = req.error_code & 0xFFFFFFFF
    return der_encoder.encode(v)


def decode_ts_request(data):
    v = _decode(data, _TSRequest(), "TSRequest")
    version = int(v["version"])
    if not 0 <= version <= 0xFFFF:
        raise TSRequestError("TSRequest.version %d out of range" % version)
    tokens = []
    if _has(v, "negoTokens"):
        nd = v["negoTokens"]
        if len(nd) > MAX_NEGO_TOKENS:
            raise TSRequestError("TSRequest.negoTokens has %d entries (at most %d)"
                                 % (len(nd), MAX_NEGO_TOKENS))
        tokens = [bytes(nt["negoToken"]) for nt in nd]
    error_code = _to_ntstatus(int(v["errorCode"])) if _has(v, "errorCode") else None
    return TSRequest(version=version, nego_tokens=tokens,
                     auth_info=_opt_bytes(v, "authInfo"),
                     pub_key_auth=_opt_bytes(v, "pubKeyAuth"),
                     error_code=error_code,
                     client_nonce=_opt_bytes(v, "clientNonce"))


def encode_ts_credentials(creds):
    pw = _TSPasswordCreds()
    pw["domainName"] = creds.domain.encode("utf-16-le")
    pw["userName"] = creds.user.encode("utf-16-le")
    pw["password"] = creds.password.encode("utf-16-le")
    tc = _TSCredentials()
    tc["credType"] = CRED_PASSWORD
    tc["credentials"] = der_encoder.encode(pw)
    return der_encoder.encode(tc)


def decode_ts_credentials(data):
    """PasswordCreds, or TSRequestError for anything else (smart card
    credentials are decoded first so the error says what arrived)."""
    tc = _decode(data, _TSCredentials(), "TSCredentials")
    cred_type = int(tc["credType"])
    inner = bytes(tc["credentials"])
    if cred_type == CRED_PASSWORD:
        pw = _decode(inner, _TSPasswordCreds(), "TSPasswordCreds")
        return PasswordCreds(domain=_text(pw, "domainName", "TSPasswordCreds"),
                             user=_text(pw, "userName", "TSPasswordCreds"),
                             password=_text(pw, "password", "TSPasswordCreds"))
    if cred_type == CRED_SMARTCARD:
        _decode(inner, _TSSmartCardCreds(), "TSSmartCardCreds")
        raise TSRequestError("smart card credentials (TSSmartCardCreds) are not supported")
    if cred_type == CRED_REMOTE_GUARD:
        raise TSRequestError("Remote Credential Guard credentials (credType 6) are not supported")
    raise TSRequestError("unknown TSCredentials.credType %d" % cred_type)


def subject_public_key(cert_der):
    """The BIT STRING content of the certificate's SubjectPublicKeyInfo: what
    MS-CSSP 3.1.5 hashes into pubKeyAuth (for RSA the PKCS#1 RSAPublicKey DER)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    spki_der = x509.load_der_x509_certificate(cert_der).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    spki = _decode(spki_der, _SubjectPublicKeyInfo(), "SubjectPublicKeyInfo")
    return spki["subjectPublicKey"].asOctets()
