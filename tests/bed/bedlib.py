"""Shared by tests/bed/up, down and passwd: the bed's certificates, its
accounts (names, passwords, the NTLM user file, DIR/env) and the record of
the processes it started.

Processes are recorded as (name, pid, start time) so that down never signals
a recycled PID: a PID whose start time differs is somebody else's process.
"""
import datetime
import ipaddress
import json
import os
import re
import secrets
import shlex
import signal
import time

PIDS = "pids"
NAME_RE = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
# No blanks, quotes, backslashes (kadmin.local's query line), no ':' (the
# NTLM user file's separator), no leading '-' (an option to kadmin).
PASSWORD_RE = re.compile(r"[A-Za-z0-9!$%&()*+,./;<=>?@\[\]^_`{|}~-]{1,127}")


def new_password():
    return "Pw-" + secrets.token_urlsafe(12)


def check_account(name, password=None):
    """None if NAME (and PASSWORD, when given) can be a bed account, else why not."""
    if not NAME_RE.fullmatch(name):
        return "a name is 1-32 of a-z 0-9 _ . -, starting with a letter or _"
    if password is not None and (not PASSWORD_RE.fullmatch(password)
                                 or password.startswith("-")):
        return ("a password is 1-127 printable ASCII characters without blanks, quotes, "
                "backslash or ':', not starting with '-'")
    return None


def password_var(user):
    """The env variable holding an extra account's password."""
    return "WINRM_PASSWORD_" + re.sub(r"[-.]", "_", user).upper()


def write_private(path, text):
    """Written whole, then renamed over path: a reader sees the old or the new file."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_ntlm_users(path, domain, passwords):
    write_private(path, "".join(f"{domain}:{u}:{pw}\n" for u, pw in passwords.items()))


def read_ntlm_users(path):
    users = {}
    with open(path) as f:
        for line in f:
            domain, user, pw = line.rstrip("\n").split(":", 2)
            users[user] = pw
    return domain, users


def write_env(bed, values):
    lines = [f"{k}={shlex.quote(str(v))}" for k, v in values.items()]
    write_private(os.path.join(bed, "env"), "# written by tests/bed/up\n" +
                  "".join(f"export {line}\n" for line in lines))


def read_env(bed):
    values = {}
    with open(os.path.join(bed, "env")) as f:
        for line in f:
            if line.startswith("export "):
                k, v = line[len("export "):].rstrip("\n").split("=", 1)
                values[k] = shlex.split(v)[0] if v else ""
    return values


def _start_time(pid):
    """Field 22 of /proc/PID/stat (clock ticks since boot), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses.
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[19])


def save_pids(bed, started):
    recs = [{"name": n, "pid": p, "start": _start_time(p)} for n, p in started]
    tmp = os.path.join(bed, PIDS + ".tmp")
    with open(tmp, "w") as f:
        json.dump(recs, f)
    os.replace(tmp, os.path.join(bed, PIDS))


def _load(bed):
    try:
        with open(os.path.join(bed, PIDS)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def _alive(rec):
    return rec.get("start") is not None and _start_time(rec["pid"]) == rec["start"]


def running(bed):
    return any(_alive(r) for r in _load(bed))


def stop(bed, timeout=5.0):
    """SIGTERM what up started (still the same processes), SIGKILL after timeout."""
    recs = [r for r in _load(bed) if _alive(r)]
    for r in recs:
        try:
            os.kill(r["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(r) for r in recs):
        _reap(recs)
        time.sleep(0.02)
    for r in recs:
        if _alive(r):
            os.kill(r["pid"], signal.SIGKILL)
    _reap(recs)
    try:
        os.unlink(os.path.join(bed, PIDS))
    except FileNotFoundError:
        pass
    return [r["name"] for r in recs]


def _reap(recs):
    # up's children are reparented to init once up exits; when stop() runs
    # inside up (failed start) they are ours and must be reaped.
    for r in recs:
        try:
            os.waitpid(r["pid"], os.WNOHANG)
        except ChildProcessError:
            pass


def make_certs(bed, host, users):
    """A CA, a server certificate for host/127.0.0.1/::1 and one client
    certificate per user (UPN user@host in the SAN, as Windows maps them)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=30)
    certdir = os.path.join(bed, "certs")
    os.makedirs(certdir, mode=0o755, exist_ok=True)

    # RSA keys take ~0.3 s each to make; only the server's is RSA (as on a
    # Windows listener, and CredSSP binds to it). The others are P-256.
    def key(kind="ec"):
        if kind == "rsa":
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def save(fname, data, mode=0o644):
        path = os.path.join(certdir, fname)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    def save_key(fname, k):
        return save(fname, k.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()), 0o600)

    def save_cert(fname, c):
        return save(fname, c.public_bytes(serialization.Encoding.PEM))

    ca_key = key()
    ca = (x509.CertificateBuilder().subject_name(name("winrm-broker test CA"))
          .issuer_name(name("winrm-broker test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start)
          .not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def leaf(cn, san, eku, pub):
        return (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
                .public_key(pub).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.SubjectAlternativeName(san), critical=False)
                .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
                .sign(ca_key, hashes.SHA256()))

    out = {"ca_cert": save_cert("ca.pem", ca)}
    srv_key = key("rsa")
    srv = leaf(host, [x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                      x509.IPAddress(ipaddress.ip_address("::1"))],
               ExtendedKeyUsageOID.SERVER_AUTH, srv_key.public_key())
    out["server_cert"] = save_cert("server.pem", srv)
    out["server_key"] = save_key("server.key", srv_key)

    # UPN otherName (1.3.6.1.4.1.311.20.2.3), a DER UTF8String.
    upn_oid = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
    for i, user in enumerate(users):
        upn = f"{user}@{host}".encode()
        der = b"\x0c" + bytes([len(upn)]) + upn
        ck = key()
        c = leaf(user, [x509.OtherName(upn_oid, der)], ExtendedKeyUsageOID.CLIENT_AUTH,
                 ck.public_key())
        suffix = "" if i == 0 else f"-{user}"
        out["client_cert" + suffix] = save_cert(f"client-{user}.pem", c)
        out["client_key" + suffix] = save_key(f"client-{user}.key", ck)
    return out
