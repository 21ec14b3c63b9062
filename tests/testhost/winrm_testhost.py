#!/usr/bin/python3
"""The WinRM test host: our stand-in for a Windows WinRM listener.

  winrm_testhost.py --config FILE.json

Starts the HTTP and HTTPS listeners (path /wsman) and a control listener for
tests (GET/POST /config switches at run time), writes the bound ports to
config['ports_file'] and logs one JSON object a line to config['log'].
Shares no code with the C broker on purpose.
"""
import argparse
import http.server
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import httpserver  # noqa: E402
import wsman  # noqa: E402

DEFAULTS = {
    "bind": "127.0.0.1",
    "http_port": 0,
    "https_port": 0,
    "control_port": 0,
    "path": "/wsman",
    "auth_schemes": ["Negotiate", "Kerberos", "CredSSP", "Basic"],
    "allow_unencrypted": False,     # plaintext SOAP on HTTP (AllowUnencrypted)
    "allow_basic_http": False,      # Basic on HTTP (AllowUnencrypted, too, on Windows)
    "strict_cbt": False,            # CbtHardeningLevel=Strict
    "max_envelope_size": 512000,     # Windows MaxEnvelopeSizekb default: 500
    # fault switches
    "latency_ms": 0,
    "drop_mid_response": False,
    "http_500": 0,                  # the next N requests get HTTP 500
    "trickle_bytes": 0,             # write responses N bytes at a time ...
    "trickle_delay_ms": 50,         # ... with this pause between writes
    "fail_401_after": 0,            # 401 after N requests on one authenticated connection
    # CredSSP switches
    "credssp_max_version": 6,
    "credssp_break_pubkey": False,
}


class JsonLog:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", buffering=1)

    def __call__(self, event):
        event = dict(event, ts=round(time.time(), 6))
        line = json.dumps(event, default=repr, sort_keys=True)
        with self.lock:
            self.f.write(line + "\n")


def acceptor_factory(config, log):
    def make(scheme, tls, cbt):
        if scheme in ("Negotiate", "Kerberos"):
            import gssauth
            return gssauth.GssAcceptor(scheme, cbt_app_data=cbt,
                                       strict_cbt=bool(tls and config.get("strict_cbt")),
                                       log=log)
        import credssp
        return credssp.CredSSPAcceptor(cert_file=config["server_cert"],
                                       key_file=config["server_key"], log=log,
                                       config=dict(config))
    return make


def control_server(config, lock, log):
    """Switches for tests: GET /config, POST /config {json object to merge}."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self, code, obj):
            data = json.dumps(obj, sort_keys=True, default=repr).encode() + b"\n"
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path != "/config":
                return self._reply(404, {"error": "not found"})
            with lock:
                self._reply(200, config)

        def do_POST(self):
            if self.path != "/config":
                return self._reply(404, {"error": "not found"})
            try:
                n = int(self.headers.get("Content-Length", "0"))
                if n > 65536:
                    raise ValueError("too large")
                change = json.loads(self.rfile.read(n) or b"{}")
                if not isinstance(change, dict):
                    raise ValueError("expected a JSON object")
            except ValueError as e:
                return self._reply(400, {"error": str(e)})
            with lock:
                config.update(change)
            log({"event": "config", "change": change})
            self._reply(200, config)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer((config["bind"], config["control_port"]), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    args = ap.parse_args()
    with open(args.config) as f:
        config = dict(DEFAULTS, **json.load(f))

    log = JsonLog(config["log"])
    service = wsman.WsmanService(config, log)
    server = httpserver.Server(config, log, service, acceptor_factory(config, log))
    http_port = server.listen(config["http_port"], tls=False)
    https_port = server.listen(config["https_port"], tls=True)
    ctl = control_server(config, server.lock, log)

    done = threading.Event()

    def stop(signum, frame):
        done.set()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    ports = {"http_port": http_port, "https_port": https_port,
             "control_port": ctl.server_address[1], "pid": os.getpid()}
    if config.get("ports_file"):
        tmp = config["ports_file"] + ".tmp"
        with open(tmp, "w") as f:
            json.dump(ports, f)
        os.replace(tmp, config["ports_file"])
    log({"event": "start", **ports})

    while not done.wait(0.5):
        pass
    server.close()
    ctl.shutdown()
    service.shutdown()
    log({"event": "stop"})


if __name__ == "__main__":
    main()
