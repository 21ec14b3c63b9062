"""PAM for integration tests, without touching /etc/pam.d: service
directories read through pam_wrapper (Debian libpam-wrapper), stacks that
name modules by absolute path, pamtester runs with the answers to the
conversation on stdin, and a real sshd on a loopback port whose PAM is such
a service directory.

pam_wrapper routes pam_syslog to stderr (PAM_WRAPPER_DEBUGLEVEL 1: LOG_ERR
and LOG_WARNING lines, as "PWRAP_WARN[...] - SYSLOG(4): text"), so a test
reads what a module logged from the process's stderr."""
import glob
import os
import select
import shutil
import socket
import subprocess
import tempfile
import time

from brokerfixture import BUILD

PAM_MODULE = os.path.join(BUILD, "pam", "pam_winrm_broker.so")
PAM_DRIVER = os.path.join(BUILD, "tests", "integration", "pam_driver")
SANITIZED = os.environ.get("WB_SANITIZE") == "1"
SSHD = "/usr/sbin/sshd"
SSH = "/usr/bin/ssh"
PAMTESTER = "/usr/bin/pamtester"


def _first(pattern):
    found = sorted(glob.glob(pattern))
    return found[0] if found else None


PAM_WRAPPER_LIB = _first("/usr/lib/*/libpam_wrapper.so")
LIBCRYPT = _first("/lib/*/libcrypt.so.1") or _first("/usr/lib/*/libcrypt.so.1")
SECURITY_DIR = os.path.dirname(_first("/lib/*/security/pam_unix.so") or
                               _first("/usr/lib/*/security/pam_unix.so") or "/")


def missing():
    """Why these tests cannot run here, or None."""
    for what, path in (("libpam-wrapper", PAM_WRAPPER_LIB), ("pamtester", PAMTESTER),
                       ("pam_unix.so", os.path.join(SECURITY_DIR, "pam_unix.so")),
                       ("the module (ninja -C build)", PAM_MODULE),
                       ("tests/integration/pam_driver (ninja -C build)", PAM_DRIVER)):
        if not path or not os.path.exists(path):
            return "no %s" % what
    return None


def system_module(name):
    return os.path.join(SECURITY_DIR, name)


def _asan_runtime():
    """The sanitizer build's module needs the ASan runtime loaded before
    anything else in a host process (pamtester, sshd) that was not built
    with it."""
    res = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                         text=True)
    path = res.stdout.strip()
    return os.path.realpath(path) if res.returncode == 0 and os.path.isabs(path) else None


class ServiceDir:
    """A pam_wrapper service directory: one file per PAM service."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="winrm-pam-")
        os.chmod(self.dir, 0o755)
        # Without "other" libpam logs an error on every pam_start; and a
        # misspelt service name must fail, not fall through to something.
        deny = system_module("pam_deny.so")
        self.add("other", ["%s required %s" % (t, deny)
                           for t in ("auth", "account", "session", "password")])

    def add(self, service, lines):
        """Writes a stack. {unix}, {permit}, {deny} and {wb} in lines stand for
        pam_unix.so, pam_permit.so, pam_deny.so and our module."""
        subst = {"unix": system_module("pam_unix.so"), "permit": system_module("pam_permit.so"),
                 "deny": system_module("pam_deny.so"), "wb": PAM_MODULE}
        text = "".join(line.format(**subst) + "\n" for line in lines)
        with open(os.path.join(self.dir, service), "w") as f:
            f.write(text)
        return text

    def env(self, debug=1, leaks=True):
        """The environment for a process whose PAM reads this directory.
        leaks=False: no LeakSanitizer report at exit (sanitizer build), for
        host programs whose own leaks are not ours (sshd)."""
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        preload = [PAM_WRAPPER_LIB]
        if SANITIZED:
            # ASan's crypt() interceptor finds no real crypt() when libcrypt
            # comes in later (pam_unix): preloaded, it is there at start.
            preload[:0] = [p for p in (_asan_runtime(), LIBCRYPT) if p]
            env["PAM_WRAPPER_DISABLE_DEEPBIND"] = "1"   # pam_wrapper(1): for sanitizers
            env["ASAN_OPTIONS"] = "detect_leaks=%d" % leaks
        env.update({"LD_PRELOAD": " ".join(preload), "PAM_WRAPPER": "1",
                    "PAM_WRAPPER_SERVICE_DIR": self.dir,
                    "PAM_WRAPPER_DEBUGLEVEL": str(debug)})
        return env

    def pamtester(self, service, user, ops, answers=(), debug=1, timeout=30):
        """pamtester SERVICE USER OPS...: answers are the conversation's
        replies, one line each on stdin (pamtester's misc_conv reads a pipe
        as it reads a terminal). Returns CompletedProcess (text)."""
        stdin = "".join(a + "\n" for a in answers)
        return subprocess.run([PAMTESTER, "-v", service, user] + list(ops), input=stdin,
                              capture_output=True, text=True, timeout=timeout,
                              env=self.env(debug))

    def driver(self, service, user, debug=1):
        return PamDriver(self, service, user, debug)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class PamDriver:
    """tests/integration/pam_driver SERVICE USER: PAM calls on ONE handle,
    each when the test says (as sshd makes them, minutes apart); a failed
    call does not end the run. stderr (the modules' log lines) goes to a
    file, read by end()."""

    def __init__(self, service_dir, service, user, debug=1):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([PAM_DRIVER, service, user], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, bufsize=0,
                                     env=service_dir.env(debug))
        self.stderr = None

    def _line(self, timeout):
        line = b""
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise TimeoutError("pam_driver gave no answer in %d s" % timeout)
            chunk = os.read(self.proc.stdout.fileno(), 1)
            if not chunk:
                raise EOFError("pam_driver exited: %r" % line)
            line += chunk
        return line.decode()

    def call(self, what, answers=(), timeout=30):
        """Runs one PAM call (authenticate, acct_mgmt, chauthtok_expired,
        open_session, close_session...); answers: the conversation's
        replies. Returns the PAM code."""
        self.proc.stdin.write("".join(x + "\n" for x in [what] + list(answers)).encode())
        name, code, _ = self._line(timeout).split(" ", 2)
        assert name == what, (name, what)
        return int(code)

    def end(self, timeout=30):
        """pam_end; returns what the process wrote to stderr."""
        if self.stderr is not None:
            return self.stderr
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"end\n")
                self._line(timeout)
            except (BrokenPipeError, EOFError, TimeoutError):
                pass
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.log.seek(0)
        self.stderr = self.log.read().decode(errors="replace")
        self.log.close()
        return self.stderr


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    """A real sshd on 127.0.0.1:<free port>: password authentication through
    PAM (service "sshd" of a ServiceDir), its own host key, no keys, no
    root login; started by absolute path (sshd re-executes itself)."""

    def __init__(self, service_dir, debug=1):
        self.service_dir = service_dir
        self.debug = debug
        self.dir = tempfile.mkdtemp(prefix="winrm-sshd-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.hostkey = os.path.join(self.dir, "hostkey")
        self.config = os.path.join(self.dir, "sshd_config")
        self.log_path = os.path.join(self.dir, "sshd.log")
        self.proc = None
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.hostkey],
                       check=True, capture_output=True)
        with open(self.config, "w") as f:
            f.write("Port %d\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\n"
                    "UsePAM yes\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n"
                    "PubkeyAuthentication no\nPermitRootLogin no\nAuthorizedKeysFile none\n"
                    "UseDNS no\nStrictModes no\nLogLevel VERBOSE\nMaxStartups 20\n"
                    % (self.port, self.hostkey, os.path.join(self.dir, "sshd.pid")))
        # The privilege-separation directory Debian's sshd insists on.
        self.made_run_dir = not os.path.isdir("/run/sshd")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    def start(self, timeout=10):
        check = subprocess.run([SSHD, "-t", "-f", self.config], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError("sshd -t: " + check.stderr)
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", self.config],
                                     env=self.service_dir.env(self.debug, leaks=False),
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sshd exited %d: %s" % (self.proc.returncode, self.log()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not listen on 127.0.0.1:%d: %s" % (self.port, self.log()))

    def ssh_start(self, user, password, command):
        """ssh USER@127.0.0.1 COMMAND with password authentication, in the
        background: the password reaches ssh through SSH_ASKPASS from a 0600
        file, never argv. Finish with ssh_wait."""
        fd, pwfile = tempfile.mkstemp(prefix="password-", dir=self.dir)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        askpass = pwfile + ".askpass"
        with open(askpass, "w") as f:
            f.write("#!/bin/sh\nexec cat %s\n" % pwfile)
        os.chmod(askpass, 0o700)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "SSH_ASKPASS": askpass,
               "SSH_ASKPASS_REQUIRE": "force", "HOME": self.dir}
        proc = subprocess.Popen(
            [SSH, "-F", "none", "-p", str(self.port), "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=" + os.path.join(self.dir, "known_hosts"),
             "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1",
             "-o", "LogLevel=ERROR", "-l", user, "127.0.0.1", command],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        proc.secret_files = (pwfile, askpass)
        return proc

    @staticmethod
    def ssh_wait(proc, timeout=60):
        """Waits for an ssh_start; returns CompletedProcess (bytes)."""
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise
        finally:
            for f in proc.secret_files:
                if os.path.exists(f):
                    os.unlink(f)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def ssh(self, user, password, command, timeout=60):
        return self.ssh_wait(self.ssh_start(user, password, command), timeout)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
            self.proc = None

    def remove(self):
        self.stop()
        if self.made_run_dir:
            try:
                os.rmdir("/run/sshd")
            except OSError:
                pass
        if os.environ.get("WINRM_KEEP_BED") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
