"""HTTP/1.1 listeners of the WinRM test host.

Owns the TCP connections: keep-alive request parsing (bounded), TLS on the
HTTPS listener, the per-connection authentication state (Negotiate, Kerberos
and CredSSP are bound to the connection, as on Windows; Basic and Certificate
are checked on every request), message encryption, and the fault switches.
The SOAP itself goes to wsman.WsmanService.
"""
import base64
import hashlib
import hmac
import itertools
import socket
import ssl
import threading
import time

import encryption
from authbase import AuthError

MAX_HEADER_BYTES = 65536
MAX_HEADERS = 100
MAX_BODY = 8 * 1024 * 1024
IDLE_TIMEOUT = 120.0
CERT_AUTH = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"
SOAP_CT = "application/soap+xml;charset=UTF-8"
UPN_OID = "1.3.6.1.4.1.311.20.2.3"


class HttpError(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status


class Identity:
    """A per-request identity (Basic, Certificate): nothing to seal with."""
    protocol = None

    def __init__(self, principal, mechanism, info=None):
        self.principal = principal
        self.mechanism = mechanism
        self.info = info or {}


def end_point_binding(cert_der):
    """RFC 5929 tls-server-end-point: the certificate's own signature hash,
    SHA-256 when that is MD5 or SHA-1."""
    from cryptography import x509
    cert = x509.load_der_x509_certificate(cert_der)
    algo = cert.signature_hash_algorithm
    name = algo.name if algo is not None else "sha256"
    if name in ("md5", "sha1"):
        name = "sha256"
    return b"tls-server-end-point:" + hashlib.new(name, cert_der).digest()


class Request:
    def __init__(self, method, path, version, headers, body):
        self.method, self.path, self.version = method, path, version
        self.headers, self.body = headers, body

    def header(self, name, default=""):
        return self.headers.get(name.lower(), default)


def read_request(rfile):
    """Parse one request; None on a clean close between requests."""
    line = rfile.readline(MAX_HEADER_BYTES + 1)
    if not line:
        return None
    if len(line) > MAX_HEADER_BYTES or not line.endswith(b"\r\n"):
        raise HttpError(400, "request line too long or not terminated")
    try:
        method, path, version = line.decode("ascii").split()
    except (UnicodeDecodeError, ValueError):
        raise HttpError(400, "malformed request line")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(505, "unsupported HTTP version")
    headers, total = {}, len(line)
    while True:
        h = rfile.readline(MAX_HEADER_BYTES + 1)
        total += len(h)
        if total > MAX_HEADER_BYTES or len(headers) > MAX_HEADERS:
            raise HttpError(431, "request headers too large")
        if not h.endswith(b"\r\n"):
            raise HttpError(400, "header line not terminated")
        if h == b"\r\n":
            break
        try:
            k, v = h.decode("latin-1").split(":", 1)
        except ValueError:
            raise HttpError(400, "malformed header line")
        if k != k.strip() or not k:
            raise HttpError(400, "malformed header name")
        k = k.lower()
        # Repeated headers are joined as RFC 9110 allows; Authorization must not repeat.
        if k in headers:
            if k in ("authorization", "content-length"):
                raise HttpError(400, "repeated %s header" % k)
            headers[k] += ", " + v.strip()
        else:
            headers[k] = v.strip()
    if "transfer-encoding" in headers:
        raise HttpError(411, "chunked request bodies are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise HttpError(400, "bad Content-Length")
    if length < 0:
        raise HttpError(400, "bad Content-Length")
    if length > MAX_BODY:
        raise HttpError(413, "request body of %d bytes exceeds %d" % (length, MAX_BODY))
    body = rfile.read(length) if length else b""
    if len(body) != length:
        raise HttpError(400, "connection closed inside the body")
    return Request(method, path, version, headers, body)


class Connection:
    """One TCP connection and its authentication state."""
    ids = itertools.count(1)

    def __init__(self, server, sock, addr, tls):
        self.server, self.sock, self.addr, self.tls = server, sock, addr, tls
        self.id = next(Connection.ids)
        self.auth = None        # completed connection-bound acceptor
        self.pending = None     # acceptor mid-handshake
        self.authed_requests = 0  # SOAP requests since the connection authenticated

    # -- plumbing ------------------------------------------------------------
    def send(self, status, headers, body=b"", close=False):
        cfg = self.server.config
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                  404: "Not Found", 405: "Method Not Allowed", 411: "Length Required",
                  413: "Payload Too Large", 415: "Unsupported Media Type",
                  431: "Request Header Fields Too Large", 500: "Internal Server Error",
                  505: "HTTP Version Not Supported"}.get(status, "Status")
        lines = ["HTTP/1.1 %d %s" % (status, reason), "Server: Microsoft-HTTPAPI/2.0"]
        lines += ["%s: %s" % (k, v) for k, v in headers]
        lines.append("Content-Length: %d" % len(body))
        if close:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        latency = cfg.get("latency_ms", 0)
        if latency:
            time.sleep(latency / 1000.0)
        if cfg.get("drop_mid_response"):
            self.server.log({"event": "fault_switch", "switch": "drop_mid_response",
                             "conn": self.id})
            self.sock.sendall(data[:max(1, len(data) // 2)])
            raise ConnectionAbortedError("dropped mid-response by switch")
        trickle = cfg.get("trickle_bytes", 0)
        if trickle:
            delay = cfg.get("trickle_delay_ms", 50) / 1000.0
            for i in range(0, len(data), trickle):
                self.sock.sendall(data[i:i + trickle])
                time.sleep(delay)
        else:
            # One write per response: split writes hit Nagle + delayed ACK.
            self.sock.sendall(data)

    def challenge(self, extra=None):
        cfg = self.server.config
        headers = []
        if extra:
            headers.append(("WWW-Authenticate", extra))
        else:
            for scheme in cfg.get("auth_schemes", ["Negotiate", "Kerberos", "CredSSP", "Basic"]):
                if scheme == "Basic":
                    if self.tls or cfg.get("allow_basic_http"):
                        headers.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
                else:
                    headers.append(("WWW-Authenticate", scheme))
        return headers

    # -- the loop --------------------------------------------------------------
    def serve(self):
        rfile = self.sock.makefile("rb")
        try:
            while True:
                self.sock.settimeout(IDLE_TIMEOUT)
                try:
                    req = read_request(rfile)
                except HttpError as e:
                    self.server.log({"event": "http_error", "conn": self.id,
                                     "status": e.status, "reason": str(e)})
                    self.send(e.status, [("Content-Type", "text/plain")],
                              str(e).encode() + b"\n", close=True)
                    return
                if req is None:
                    return
                keep = self.handle(req)
                if not keep or req.version == "HTTP/1.0" or \
                        req.header("connection").lower() == "close":
                    return
        except (OSError, ssl.SSLError, ConnectionAbortedError):
            return
        finally:
            try:
                rfile.close()
                self.sock.close()
            except OSError:
                pass

    def handle(self, req):
        cfg = self.server.config
        if req.path.split("?")[0].lower() != cfg.get("path", "/wsman"):
            self.send(404, [("Content-Type", "text/plain")], b"not found\n")
            return True
        if req.method != "POST":
            self.send(405, [("Allow", "POST")])
            return True
        if self.server.take_forced_500():
            self.server.log({"event": "fault_switch", "switch": "http_500", "conn": self.id})
            self.send(500, [("Content-Type", "text/plain")], b"forced by http_500 switch\n")
            return True
        try:
            ident, out_hdr = self.authenticate(req)
        except AuthError as e:
            self.server.log({"event": "auth_fail", "conn": self.id, "reason": str(e),
                             "scheme": req.header("authorization").split(" ")[0][:32]})
            self.auth = self.pending = None
            self.send(401, self.challenge())
            return True
        if ident is None:       # handshake continues, or no credentials yet
            self.send(401, out_hdr or self.challenge())
            return True
        return self.dispatch(req, ident, out_hdr)

    # -- authentication -------------------------------------------------------
    def authenticate(self, req):
        """Return (identity, extra headers); identity None means answer 401."""
        value = req.header("authorization")
        limit = self.server.config.get("fail_401_after", 0)
        if not value:
            if self.auth is None:
                return None, None
            if limit and self.authed_requests >= limit:
                self.server.log({"event": "fault_switch", "switch": "fail_401_after",
                                 "conn": self.id, "after": self.authed_requests})
                self.auth, self.authed_requests = None, 0
                return None, None
            return self.auth, None
        if value == CERT_AUTH:
            return self.cert_identity(), None
        scheme, _, token = value.partition(" ")
        scheme_l = scheme.lower()
        if scheme_l == "basic":
            return self.basic_identity(token.strip()), None
        names = {"negotiate": "Negotiate", "kerberos": "Kerberos", "credssp": "CredSSP"}
        if scheme_l not in names or names[scheme_l] not in self.server.config.get(
                "auth_schemes", list(names.values()) + ["Basic"]):
            raise AuthError("unsupported auth scheme %r" % scheme[:32])
        try:
            raw = base64.b64decode(token.strip(), validate=True)
        except ValueError:
            raise AuthError("bad base64 in %s token" % names[scheme_l])
        if not raw:
            raise AuthError("empty %s token" % names[scheme_l])
        # A new token on an authenticated connection starts a new exchange (re-auth).
        if self.pending is None or self.pending.scheme != names[scheme_l]:
            self.auth = None
            self.pending = self.server.new_acceptor(names[scheme_l], self)
        out, complete = self.pending.step(raw)
        out_hdr = [("WWW-Authenticate", "%s %s" % (names[scheme_l],
                                                    base64.b64encode(out).decode()))] \
            if out else None
        if not complete:
            return None, out_hdr
        self.auth, self.pending, self.authed_requests = self.pending, None, 0
        self.server.log({"event": "auth", "conn": self.id, "scheme": self.auth.scheme,
                         "principal": self.auth.principal, "mechanism": self.auth.mechanism,
                         "tls": self.tls, **self.auth.info})
        return self.auth, out_hdr

    def basic_identity(self, token):
        cfg = self.server.config
        if not self.tls and not cfg.get("allow_basic_http"):
            raise AuthError("Basic over HTTP is disabled (AllowUnencrypted=false)")
        try:
            user, _, password = base64.b64decode(token, validate=True).decode("utf-8") \
                .partition(":")
        except (ValueError, UnicodeDecodeError):
            raise AuthError("malformed Basic credentials")
        # Windows accepts local accounts, optionally as .\user or HOST\user.
        user = user.split("\\")[-1]
        expected = cfg.get("accounts", {}).get(user)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            raise AuthError("Basic: bad user name or password for %r" % user[:64])
        ident = Identity(user, "basic", {"tls": self.tls})
        self.server.log({"event": "auth", "conn": self.id, "scheme": "Basic",
                         "principal": user, "mechanism": "basic", "tls": self.tls})
        return ident

    def cert_identity(self):
        if not self.tls:
            raise AuthError("certificate auth needs HTTPS")
        der = self.sock.getpeercert(binary_form=True)
        if not der:
            raise AuthError("certificate auth header without a client certificate")
        from cryptography import x509
        cert = x509.load_der_x509_certificate(der)
        upn = None
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            for other in san.get_values_for_type(x509.OtherName):
                # UTF8String: tag 0x0c, short length.
                v = other.value
                if other.type_id.dotted_string == UPN_OID and len(v) >= 2 and v[0] == 0x0c \
                        and v[1] == len(v) - 2:
                    upn = v[2:].decode("utf-8")
        except x509.ExtensionNotFound:
            pass
        account = self.server.config.get("cert_mapping", {}).get(upn) if upn else None
        if account is None:
            raise AuthError("client certificate (UPN %r) is not mapped to an account" % upn)
        self.server.log({"event": "auth", "conn": self.id, "scheme": "Certificate",
                         "principal": account, "mechanism": "certificate", "upn": upn,
                         "tls": True})
        return Identity(account, "certificate", {"upn": upn})

    # -- the SOAP body ----------------------------------------------------------
    def dispatch(self, req, ident, out_hdr):
        cfg = self.server.config
        headers = list(out_hdr or [])
        ctype = req.header("content-type")
        encrypted = False
        try:
            enc = encryption.parse_content_type(ctype) if ctype else None
        except encryption.FramingError as e:
            return self.refuse(400, str(e), ident, headers)
        if enc:
            if ident.protocol is None:
                return self.refuse(400, "encrypted body but %s has no session key"
                                   % ident.mechanism, ident, headers)
            try:
                plain = encryption.decode(req.body, enc[0], enc[1], ident)
            except (encryption.FramingError, AuthError) as e:
                # A failed unseal desynchronises the sequence numbers (MIT then
                # refuses every later message): the client must authenticate again.
                self.auth = None
                return self.refuse(400, "cannot decrypt body: %s" % e, ident, headers)
            encrypted = True
        else:
            plain = req.body
            if plain and not self.tls and not cfg.get("allow_unencrypted"):
                # Windows answers 500 with no body (pywinrm#129, #208).
                return self.refuse(500, "unencrypted SOAP body on HTTP "
                                   "(AllowUnencrypted=false)", ident, headers, quiet=True)
        if not plain:
            # pywinrm finishes NTLM with an empty POST and expects 200.
            self.server.log(self.msg_event(ident, encrypted, None, 0))
            self.send(200, headers)
            return True
        self.authed_requests += 1
        status, resp = self.server.wsman.handle(plain, ident.principal)
        ev = self.msg_event(ident, encrypted, action_of(plain), len(plain))
        ev["status"] = status
        self.server.log(ev)
        if encrypted:
            chunked = ident.scheme == "CredSSP" and len(resp) > encryption.CHUNK
            ct, resp = encryption.encode(resp, ident, chunked)
        else:
            ct = SOAP_CT
        self.send(status, headers + [("Content-Type", ct)], resp)
        return True

    def msg_event(self, ident, encrypted, action, size):
        return {"event": "message", "conn": self.id, "principal": ident.principal,
                "mechanism": ident.mechanism, "tls": self.tls, "encrypted": encrypted,
                "protocol": ident.protocol if encrypted else None,
                "cbt_seen": ident.info.get("cbt_seen"), "action": action, "bytes": size}

    def refuse(self, status, reason, ident, headers, quiet=False):
        """Refuse a request; the reason goes to the log, and to the client
        unless Windows sends an empty body there (quiet)."""
        self.server.log({"event": "refused", "conn": self.id, "status": status,
                         "reason": reason, "principal": ident.principal})
        if quiet:
            self.send(status, headers)
        else:
            self.send(status, headers + [("Content-Type", "text/plain")],
                      reason.encode() + b"\n")
        return True


def action_of(body):
    """The WS-Addressing Action, for the log only (the SOAP parser is wsman's)."""
    i = body.find(b"Action")
    if i < 0:
        return None
    j = body.find(b">", i)
    k = body.find(b"<", j)
    if j < 0 or k < 0 or k - j > 512:
        return None
    return body[j + 1:k].decode("utf-8", "replace").strip()


class Server:
    """The listeners and everything shared between connections."""

    def __init__(self, config, log, wsman, acceptor_factory):
        self.config, self.log, self.wsman = config, log, wsman
        self.acceptor_factory = acceptor_factory
        self.lock = threading.Lock()
        self.listeners = []
        self.stopping = threading.Event()
        self.tls_ctx = self._tls_context()
        with open(config["server_cert"], "rb") as f:
            pem = f.read()
        self.cbt_app_data = end_point_binding(ssl.PEM_cert_to_DER_cert(pem.decode()))

    def _tls_context(self):
        cfg = self.config
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cfg["server_cert"], cfg["server_key"])
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        # Certificate auth: ask for a client certificate, verify it when sent.
        ctx.load_verify_locations(cfg["ca_cert"])
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx

    def take_forced_500(self):
        with self.lock:
            n = self.config.get("http_500", 0)
            if n:
                self.config["http_500"] = n - 1
                return True
            return False

    def new_acceptor(self, scheme, conn):
        return self.acceptor_factory(scheme, conn.tls, self.cbt_app_data if conn.tls else None)

    def listen(self, port, tls):
        family = socket.AF_INET6 if ":" in self.config.get("bind", "127.0.0.1") \
            else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.config.get("bind", "127.0.0.1"), port))
        s.listen(128)
        self.listeners.append(s)
        threading.Thread(target=self._accept_loop, args=(s, tls), daemon=True).start()
        return s.getsockname()[1]

    def _accept_loop(self, s, tls):
        while not self.stopping.is_set():
            try:
                sock, addr = s.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock, addr, tls), daemon=True).start()

    def _serve(self, sock, addr, tls):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            try:
                sock.settimeout(10)
                sock = self.tls_ctx.wrap_socket(sock, server_side=True)
            except (OSError, ssl.SSLError) as e:
                self.log({"event": "tls_error", "peer": addr[0], "reason": str(e)})
                sock.close()
                return
        Connection(self, sock, addr, tls).serve()

    def close(self):
        self.stopping.set()
        for s in self.listeners:
            try:
                s.close()
            except OSError:
                pass
