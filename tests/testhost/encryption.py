"""MS-WSMV 2.2.9.1 message encryption framing: multipart/encrypted and
multipart/x-multi-encrypted bodies around an acceptor's seal()/unseal().

One part pair per chunk:
  --Encrypted Boundary\r\n
  \tContent-Type: <protocol>\r\n
  \tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=<n>\r\n
  --Encrypted Boundary\r\n
  \tContent-Type: application/octet-stream\r\n
  <uint32 LE length field><payload>
and after the last pair: --Encrypted Boundary--\r\n
"""
import re
import struct

from authbase import AuthError

BOUNDARY = b"Encrypted Boundary"
CHUNK = 16384
MAX_PARTS = 4096
SINGLE = "multipart/encrypted"
MULTI = "multipart/x-multi-encrypted"
CREDSSP = "application/HTTP-CredSSP-session-encrypted"

# Some servers write "-- Encrypted Boundary"; accept any blanks after "--".
_MARK = re.compile(rb"--[ \t]*" + BOUNDARY)
_LENGTH = re.compile(rb"Length=(\d{1,10})")


class FramingError(Exception):
    pass


def content_type(kind, protocol):
    return f'{kind};protocol="{protocol}";boundary="Encrypted Boundary"'


def parse_content_type(value):
    """Return (kind, protocol) of a multipart encrypted Content-Type, or None."""
    parts = [p.strip() for p in value.split(";")]
    kind = parts[0].lower()
    if kind not in (SINGLE, MULTI):
        return None
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    if params.get("boundary", BOUNDARY.decode()) != BOUNDARY.decode():
        raise FramingError("unexpected multipart boundary %r" % params.get("boundary"))
    return kind, params.get("protocol", "")


def encode(plaintext, acceptor, chunked):
    """Seal plaintext; chunked splits it into CHUNK-byte pieces (CredSSP, whose
    TLS records cannot carry more)."""
    pieces = [plaintext[i:i + CHUNK] for i in range(0, len(plaintext), CHUNK)] if chunked \
        else [plaintext]
    out = []
    proto = acceptor.protocol.encode()
    for piece in pieces:
        length_field, payload = acceptor.seal(piece)
        out.append(b"--" + BOUNDARY + b"\r\n\tContent-Type: " + proto +
                   b"\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" +
                   str(len(piece)).encode() + b"\r\n--" + BOUNDARY +
                   b"\r\n\tContent-Type: application/octet-stream\r\n" +
                   struct.pack("<I", length_field) + payload)
    out.append(b"--" + BOUNDARY + b"--\r\n")
    kind = MULTI if chunked and len(pieces) > 1 else SINGLE
    return content_type(kind, acceptor.protocol), b"".join(out)


def _expect(body, pos, literal):
    if not body.startswith(literal, pos):
        raise FramingError("expected %r at offset %d" % (literal[:40], pos))
    return pos + len(literal)


def _marker(body, pos):
    m = _MARK.match(body, pos)
    if not m:
        raise FramingError("expected boundary at offset %d" % pos)
    return m.end()


def _header_block(body, pos):
    """Tab-indented header lines up to the next boundary; returns (headers, pos)."""
    headers = {}
    while pos < len(body) and body[pos:pos + 1] in (b"\t", b" "):
        end = body.find(b"\r\n", pos)
        if end < 0 or end - pos > 1024:
            raise FramingError("unterminated or overlong part header at offset %d" % pos)
        line = body[pos:end].strip()
        if b":" not in line:
            raise FramingError("malformed part header %r" % line[:60])
        k, v = line.split(b":", 1)
        headers[k.strip().lower()] = v.strip()
        pos = end + 2
    return headers, pos


def decode(body, kind, protocol, acceptor):
    """Unseal every part pair; check the protocol and each OriginalContent
    Length. Raises FramingError (malformed) or AuthError (integrity)."""
    if kind == MULTI and protocol != CREDSSP:
        # MS-WSMV defines chunking for CredSSP only (TLS records).
        raise FramingError("multipart/x-multi-encrypted is only defined for CredSSP")
    if protocol != acceptor.protocol:
        raise FramingError("protocol %r does not match the authenticated %r"
                           % (protocol, acceptor.protocol))
    pos, parts, out = 0, 0, []
    while True:
        pos = _marker(body, pos)
        if body.startswith(b"--", pos):
            break
        parts += 1
        if parts > MAX_PARTS:
            raise FramingError("too many encrypted parts")
        pos = _expect(body, pos, b"\r\n")
        headers, pos = _header_block(body, pos)
        if headers.get(b"content-type", b"").decode("latin-1") != protocol:
            raise FramingError("part Content-Type is not %s" % protocol)
        m = _LENGTH.search(headers.get(b"originalcontent", b""))
        if not m:
            raise FramingError("OriginalContent has no Length")
        expected = int(m.group(1))
        pos = _marker(body, pos)
        pos = _expect(body, pos, b"\r\n")
        headers, pos = _header_block(body, pos)
        if headers.get(b"content-type", b"").lower() != b"application/octet-stream":
            raise FramingError("data part is not application/octet-stream")
        nxt = _MARK.search(body, pos)
        if not nxt:
            raise FramingError("encrypted data is not followed by a boundary")
        data = body[pos:nxt.start()]
        if len(data) < 4:
            raise FramingError("encrypted data shorter than its length field")
        (length_field,) = struct.unpack("<I", data[:4])
        if length_field > len(data) - 4:
            raise FramingError("signature length %d exceeds the data" % length_field)
        plain = acceptor.unseal(length_field, data[4:])
        if len(plain) != expected:
            raise AuthError("decrypted length %d differs from OriginalContent Length %d"
                            % (len(plain), expected))
        out.append(plain)
        pos = nxt.start()
    if parts == 0:
        raise FramingError("no encrypted part")
    if kind == SINGLE and parts != 1:
        raise FramingError("multipart/encrypted with %d parts" % parts)
    return b"".join(out)
