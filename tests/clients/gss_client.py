"""A WinRM client transport over python3-gssapi: HTTP Negotiate/Kerberos
authentication (Kerberos, NTLM, SPNEGO) with MS-WSMV 2.2.9.1 message encryption.

Our own test client: it exercises the test host's Kerberos message encryption
(which Debian's pywinrm cannot do) and lets tests choose exactly what is sent
(channel binding or not, delegation, SPNEGO-wrapped or raw NTLM).

Mechanisms (mech, spnego_raw_ntlm):
  'kerberos'          raw Kerberos AP-REQ (Negotiate or Kerberos scheme)
  'spnego'            SPNEGO offering Kerberos only
  'ntlm'              SPNEGO offering NTLM only (what Windows clients send)
  'ntlm' + spnego_raw_ntlm=True   raw NTLMSSP under Negotiate (pywinrm, go-ntlmssp)

Kerberos credentials come from gss_acquire_cred_with_password, which MIT
keeps in a private MEMORY: ccache: no kinit, nothing shared through the
environment. KRB5_CONFIG must point at the realm; delegation needs
'forwardable = true' there. NTLM uses gss-ntlmssp with a DOMAIN\\user name.

Encryption follows pywinrm/pypsrp: one part pair per body. MS-WSMV defines
multipart/x-multi-encrypted (16 KiB chunks) for CredSSP only, and neither
pywinrm nor pypsrp chunks Negotiate/Kerberos messages, so chunk_size is off by
default; a test may set it to see how the server takes chunked SPNEGO bodies.
"""
import base64
import hashlib
import http.client
import re
import ssl
import struct
import urllib.parse

import gssapi
import gssapi.raw as gss
from gssapi.raw import IOV, IOVBufferType

KRB5_OID = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")
MS_KRB5_OID = gssapi.OID.from_int_seq("1.2.840.48018.1.2.2")
NTLM_OID = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")
SPNEGO_OID = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")

PROTOCOLS = {
    "Negotiate": "application/HTTP-SPNEGO-session-encrypted",
    "Kerberos": "application/HTTP-Kerberos-session-encrypted",
}
BOUNDARY = b"Encrypted Boundary"
SOAP_TYPE = "application/soap+xml;charset=UTF-8"
MAX_LEGS = 6
MAX_PARTS = 4096


class GssClientError(Exception):
    pass


def tls_server_end_point(der_cert):
    """RFC 5929 'tls-server-end-point' channel binding application data: the
    certificate's signature hash, with MD5 and SHA-1 upgraded to SHA-256."""
    from cryptography import x509
    cert = x509.load_der_x509_certificate(der_cert)
    try:
        name = cert.signature_hash_algorithm.name
    except Exception:               # e.g. Ed25519: no separate hash
        name = "sha256"
    if name in ("md5", "sha1"):
        name = "sha256"
    return b"tls-server-end-point:" + hashlib.new(name, der_cert).digest()


class GssInitiator:
    """The client side of one security context, plus WinRM seal/unseal."""

    def __init__(self, mech, user, domain, password, host, *, cbt_app_data=None,
                 delegate=False, spnego_raw_ntlm=False, service="HTTP"):
        if mech not in ("kerberos", "spnego", "ntlm"):
            raise ValueError("mech must be kerberos, spnego or ntlm")
        self.mech = mech
        self.spnego = mech == "spnego" or (mech == "ntlm" and not spnego_raw_ntlm)
        inner = NTLM_OID if mech == "ntlm" else KRB5_OID
        if mech == "ntlm":
            name = "%s\\%s" % (domain, user) if domain and "\\" not in user else user
        else:
            name = "%s@%s" % (user, domain) if domain and "@" not in user else user
        self.user_name = name
        outer = SPNEGO_OID if self.spnego else inner
        creds = gss.acquire_cred_with_password(
            gssapi.Name(name, gssapi.NameType.user), password.encode(),
            usage="initiate", mechs=[outer]).creds
        if self.spnego:
            gss.set_neg_mechs(creds, [inner])
        F = gssapi.RequirementFlag
        flags = (F.mutual_authentication | F.confidentiality | F.integrity |
                 F.replay_detection | F.out_of_sequence_detection)
        if delegate:
            flags |= F.delegate_to_peer
        bindings = gss.ChannelBindings(application_data=cbt_app_data) if cbt_app_data else None
        self.ctx = gssapi.SecurityContext(
            name=gssapi.Name("%s@%s" % (service, host), gssapi.NameType.hostbased_service),
            creds=gssapi.Credentials(creds), mech=outer, usage="initiate", flags=flags,
            channel_bindings=bindings)

    @property
    def complete(self):
        return self.ctx.complete

    def step(self, token=None):
        return self.ctx.step(token)

    def _is_ntlm(self):
        return self.ctx.mech == NTLM_OID

    def seal(self, plaintext):
        """Return (length_field, payload, padding_length)."""
        if self._is_ntlm():
            res = gss.wrap(self.ctx, plaintext, confidential=True)
            if not res.encrypted:
                raise GssClientError("NTLM wrap did not encrypt")
            return 16, res.message, 0
        iov = IOV(IOVBufferType.header, plaintext, IOVBufferType.padding, std_layout=False)
        if not gss.wrap_iov(self.ctx, iov, confidential=True):
            raise GssClientError("Kerberos wrap_iov did not encrypt")
        header, padding = iov[0].value or b"", iov[2].value or b""
        return len(header), header + (iov[1].value or b"") + padding, len(padding)

    def unseal(self, length_field, payload):
        if length_field > len(payload):
            raise GssClientError("length field %d exceeds payload %d" % (length_field, len(payload)))
        if self._is_ntlm():
            if length_field != 16:
                raise GssClientError("NTLM signature length %d" % length_field)
            res = gss.unwrap(self.ctx, payload)
            data = res.message
        else:
            iov = IOV((IOVBufferType.header, False, payload[:length_field]),
                      payload[length_field:], std_layout=False)
            res = gss.unwrap_iov(self.ctx, iov)
            data = iov[1].value or b""
        if not res.encrypted:
            raise GssClientError("server message was not encrypted")
        return data


def encrypt_body(plaintext, initiator, protocol, chunk_size=None):
    """Return (content_type, body) of an MS-WSMV encrypted message."""
    step = chunk_size if chunk_size and len(plaintext) > chunk_size else max(len(plaintext), 1)
    pieces = [plaintext[i:i + step] for i in range(0, len(plaintext), step)] or [b""]
    out = []
    for piece in pieces:
        length_field, payload, padding = initiator.seal(piece)
        out.append(b"--" + BOUNDARY + b"\r\n"
                   b"\tContent-Type: " + protocol.encode() + b"\r\n"
                   b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" +
                   str(len(piece) + padding).encode() + b"\r\n"
                   b"--" + BOUNDARY + b"\r\n"
                   b"\tContent-Type: application/octet-stream\r\n" +
                   struct.pack("<I", length_field) + payload)
    out.append(b"--" + BOUNDARY + b"--\r\n")
    kind = "multipart/x-multi-encrypted" if len(pieces) > 1 else "multipart/encrypted"
    return '%s;protocol="%s";boundary="Encrypted Boundary"' % (kind, protocol), b"".join(out)


_PART = re.compile(rb"--[ \t]*" + BOUNDARY + rb"(--)?\r\n")
_LENGTH = re.compile(rb"Length=(\d{1,10})")
_OCTET = re.compile(rb"^[ \t]*Content-Type:[ \t]*application/octet-stream\r\n", re.I)


def decrypt_body(body, initiator):
    """Unseal every part pair of an encrypted body; check each Length."""
    pieces = [p for p in _PART.split(body) if p]     # split() also yields the '--' groups
    pieces = [p for p in pieces if p != b"--"]
    if len(pieces) % 2 or not pieces or len(pieces) > 2 * MAX_PARTS:
        raise GssClientError("malformed encrypted body (%d pieces)" % len(pieces))
    out = []
    for i in range(0, len(pieces), 2):
        m = _LENGTH.search(pieces[i])
        if not m:
            raise GssClientError("encrypted part without OriginalContent Length")
        data = _OCTET.sub(b"", pieces[i + 1], count=1)
        if len(data) < 4:
            raise GssClientError("encrypted part shorter than its length field")
        (length_field,) = struct.unpack("<I", data[:4])
        plain = initiator.unseal(length_field, data[4:])
        if len(plain) != int(m.group(1)):
            raise GssClientError("decrypted %d bytes, OriginalContent says %s"
                                 % (len(plain), m.group(1).decode()))
        out.append(plain)
    return b"".join(out)


def _challenge_token(header_value, scheme):
    """The base64 token after '<scheme> ' in a WWW-Authenticate value, or None."""
    for item in (header_value or "").split(","):
        item = item.strip()
        if item.lower().startswith(scheme.lower() + " "):
            return base64.b64decode(item[len(scheme) + 1:].strip(), validate=True)
    return None


class GssTransport:
    """post(body) -> (status, response_body) over one keep-alive connection,
    authenticated once with an empty POST (as pywinrm does), then encrypted."""

    def __init__(self, url, scheme, mech, user, domain, password, ca_file=None, send_cbt=True,
                 encrypt=True, delegate=False, spnego_raw_ntlm=False, timeout=60,
                 chunk_size=None):
        if scheme not in PROTOCOLS:
            raise ValueError("scheme must be Negotiate or Kerberos")
        u = urllib.parse.urlsplit(url)
        self.https = u.scheme == "https"
        self.host, self.port = u.hostname, u.port or (443 if self.https else 80)
        self.path = u.path or "/wsman"
        self.scheme, self.mech = scheme, mech
        self.user, self.domain, self.password = user, domain, password
        self.ca_file, self.send_cbt, self.encrypt = ca_file, send_cbt, encrypt
        self.delegate, self.spnego_raw_ntlm = delegate, spnego_raw_ntlm
        self.timeout, self.chunk_size = timeout, chunk_size
        self.protocol = PROTOCOLS[scheme]
        self.conn = None
        self.initiator = None
        self.auth_status = None     # status of the last handshake response
        self.last_headers = {}

    def close(self):
        self._drop()
        self.initiator = None

    def _drop(self):
        """Forget the connection (and with it the authentication); the next
        post() authenticates again. The initiator stays for the response in hand."""
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def _connect(self):
        if self.https:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                               context=ctx)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        conn.connect()
        return conn

    def _request(self, body, headers):
        self.conn.request("POST", self.path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        self.last_headers = {k.lower(): v for k, v in resp.getheaders()}
        if resp.will_close:
            self._drop()
        return resp, data

    def authenticate(self):
        """Run the handshake; returns (status, body) of its last response."""
        self.close()
        self.conn = self._connect()
        cbt = None
        if self.https and self.send_cbt:
            cbt = tls_server_end_point(self.conn.sock.getpeercert(binary_form=True))
        self.initiator = GssInitiator(self.mech, self.user, self.domain, self.password,
                                      self.host, cbt_app_data=cbt, delegate=self.delegate,
                                      spnego_raw_ntlm=self.spnego_raw_ntlm)
        token = self.initiator.step()
        for _ in range(MAX_LEGS):
            headers = {"Content-Type": SOAP_TYPE, "Content-Length": "0",
                       "Authorization": "%s %s" % (self.scheme, base64.b64encode(token).decode())}
            resp, data = self._request(b"", headers)
            in_token = _challenge_token(resp.getheader("WWW-Authenticate"), self.scheme)
            self.auth_status = resp.status
            if resp.status == 401 and in_token and not self.initiator.complete:
                token = self.initiator.step(in_token)
                continue
            if resp.status == 401:
                self._drop()        # rejected: the next post() starts over
                return resp.status, data
            if in_token and not self.initiator.complete:
                self.initiator.step(in_token)       # mutual auth / SPNEGO mechListMIC
            if not self.initiator.complete:
                raise GssClientError("server answered %d before the context was complete"
                                     % resp.status)
            return resp.status, data
        raise GssClientError("handshake did not finish in %d legs" % MAX_LEGS)

    def post(self, body):
        if self.conn is None:
            status, data = self.authenticate()
            if status == 401:
                return status, data
        if self.encrypt:
            ctype, payload = encrypt_body(body, self.initiator, self.protocol, self.chunk_size)
        else:
            ctype, payload = SOAP_TYPE, body
        initiator = self.initiator
        resp, data = self._request(payload, {"Content-Type": ctype})
        if resp.status == 401:
            self._drop()            # the server dropped our authentication
        rtype = resp.getheader("Content-Type", "")
        if rtype.lower().startswith(("multipart/encrypted", "multipart/x-multi-encrypted")):
            if ('protocol="%s"' % self.protocol).lower() not in rtype.lower():
                raise GssClientError("response encrypted with another protocol: %s" % rtype)
            data = decrypt_body(data, initiator)
        return resp.status, data
