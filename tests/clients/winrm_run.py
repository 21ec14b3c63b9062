#!/usr/bin/python3
"""Runs one command on a bed's WinRM test host with our own test clients.

  winrm_run.py --bed DIR [--auth AUTH] [--https] [--stdin] -- COMMAND [ARG ...]

AUTH: basic, certificate, ntlm, kerberos (Kerberos scheme), negotiate
(SPNEGO, Kerberos), credssp-ntlm, credssp-kerberos. Negotiate, Kerberos and
CredSSP encrypt every message (MS-WSMV 2.2.9.1), also over HTTPS when asked
with --encrypt; Basic and Certificate need --https. The remote stdout and
stderr are copied to ours and the remote exit code is ours.

Until the broker exists this is what scripts/demo runs; the password comes
from the bed's env file, never from the command line.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from bedfixture import read_env  # noqa: E402

AUTHS = ("basic", "certificate", "ntlm", "kerberos", "negotiate", "credssp-ntlm",
         "credssp-kerberos")


def transport_for(env, auth, https, encrypt):
    port = env["WINRM_HTTPS_PORT" if https else "WINRM_HTTP_PORT"]
    url = "%s://%s:%s/wsman" % ("https" if https else "http", env["WINRM_HOST"], port)
    user, domain, pw = env["WINRM_USER"], env["WINRM_DOMAIN"], env["WINRM_PASSWORD"]
    ca = env["WINRM_CA_CERT"]
    if auth in ("basic", "certificate"):
        import wsclient
        if not https:
            sys.exit("winrm_run: %s needs --https" % auth)
        if auth == "basic":
            return wsclient.PlainHttpTransport(url, basic=(user, pw), cafile=ca)
        return wsclient.PlainHttpTransport(
            url, cafile=ca, certfile=env["WINRM_CLIENT_CERT"], keyfile=env["WINRM_CLIENT_KEY"],
            headers={"Authorization": "http://schemas.dmtf.org/wbem/wsman/1/wsman/"
                                      "secprofile/https/mutual"})
    if auth.startswith("credssp"):
        import credssp_client
        return credssp_client.CredSSPTransport(url, user, domain, pw, inner=auth.split("-")[1],
                                               tls_max="1.3", ca_file=ca)
    import gss_client
    scheme = "Kerberos" if auth == "kerberos" else "Negotiate"
    mech = {"ntlm": "ntlm", "kerberos": "kerberos", "negotiate": "spnego"}[auth]
    if mech != "ntlm":
        domain = env["WINRM_REALM"]
    return gss_client.GssTransport(url, scheme, mech, user, domain, pw, ca_file=ca,
                                   encrypt=encrypt or not https)


def main():
    ap = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1].strip())
    ap.add_argument("--bed", required=True, help="the directory given to tests/bed/up")
    ap.add_argument("--auth", choices=AUTHS, default="kerberos")
    ap.add_argument("--https", action="store_true")
    ap.add_argument("--encrypt", action="store_true",
                    help="message encryption over HTTPS too (always on over HTTP)")
    ap.add_argument("--stdin", action="store_true", help="send our stdin to the command")
    ap.add_argument("command", nargs="+")
    args = ap.parse_args()

    env = read_env(os.path.join(args.bed, "env"))
    os.environ["KRB5_CONFIG"] = env["KRB5_CONFIG"]
    os.environ["KRB5CCNAME"] = "MEMORY:winrm_run"
    import wsclient
    transport = transport_for(env, args.auth, args.https, args.encrypt)
    data = sys.stdin.buffer.read() if args.stdin else b""
    try:
        out, err, code = wsclient.run_command(transport, args.command[0], args.command[1:],
                                              stdin=data)
    except wsclient.WsmanFault as e:
        sys.exit("winrm_run: WS-Man fault %s: %s" % (e.code, e.text))
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    sys.stderr.buffer.write(err)
    sys.stderr.flush()
    sys.exit(code if 0 <= code < 256 else 255)


if __name__ == "__main__":
    main()
