"""A real winrm-brokerd for integration tests: its own config, master key,
state directory and socket in a temporary directory, READY awaited through
a NOTIFY_SOCKET the test owns, the CLI copied where unprivileged test users
can run it, and real local users created with useradd (CI runs as root)."""
import grp
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BUILD = os.environ.get("WB_BUILD_ROOT") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
BROKERD = os.path.join(BUILD, "brokerd", "winrm-brokerd")
CLI = os.path.join(BUILD, "libclient", "winrm-broker")
LIBDIR = os.path.join(BUILD, "libclient")


def is_root():
    return os.geteuid() == 0


class LocalUser:
    """A throw-away local account (and optionally a group), removed by drop().
    shell: a login shell (sshd runs remote commands through it); password:
    a Linux password (chpasswd), e.g. for pam_unix."""

    def __init__(self, prefix="wbt", groups=(), shell="/usr/sbin/nologin", password=None):
        self.name = "%s%s" % (prefix, secrets.token_hex(3))
        cmd = ["useradd", "-M", "-N", "-s", shell]
        if groups:
            cmd += ["-G", ",".join(groups)]
        subprocess.run(cmd + [self.name], check=True, capture_output=True)
        self.uid = pwd.getpwnam(self.name).pw_uid
        self.gid = pwd.getpwnam(self.name).pw_gid
        if password is not None:
            self.set_password(password)

    def set_password(self, password):
        # chpasswd reads "name:password" on stdin: never in argv.
        subprocess.run(["chpasswd"], input="%s:%s\n" % (self.name, password), text=True,
                       check=True, capture_output=True)

    def drop(self):
        subprocess.run(["userdel", self.name], capture_output=True)


class LocalGroup:
    def __init__(self, prefix="wbg"):
        self.name = "%s%s" % (prefix, secrets.token_hex(3))
        subprocess.run(["groupadd", self.name], check=True, capture_output=True)
        self.gid = grp.getgrnam(self.name).gr_gid

    def drop(self):
        subprocess.run(["groupdel", self.name], capture_output=True)


# Every user, every shared and personal credential, every host: the
# default-deny policy opened up for tests that are not about policy.
OPEN_POLICY = {"00-tests.conf": "[rule tests-open]\nusers = *\ncredentials = *, personal\n"
                                "hosts = *\n"}


class Broker:
    def __init__(self, bed_env, host_section="", broker_extra="",
                 transports="basic, certificate", policy=None, extra_sections=""):
        self.transports = transports
        self.dir = tempfile.mkdtemp(prefix="winrm-broker-")
        os.chmod(self.dir, 0o755)
        self.bed_env = bed_env
        for d, mode in (("etc", 0o700), ("state", 0o700), ("run", 0o755), ("bin", 0o755)):
            os.mkdir(os.path.join(self.dir, d), mode)
        self.socket = os.path.join(self.dir, "run", "broker.sock")
        self.key = os.path.join(self.dir, "etc", "master-key")
        self.config = os.path.join(self.dir, "etc", "brokerd.conf")
        self.log_path = os.path.join(self.dir, "brokerd.log")
        self.policy_dir = os.path.join(self.dir, "etc", "policy.d")
        self.audit_path = os.path.join(self.dir, "audit.log")
        self.transcript_dir = os.path.join(self.dir, "transcripts")
        os.mkdir(self.policy_dir, 0o700)
        self.write_policy(OPEN_POLICY if policy is None else policy)
        subprocess.run([BROKERD, "--generate-master-key", self.key], check=True,
                       capture_output=True)
        self.write_config(host_section, broker_extra, extra_sections)
        # Unprivileged users cannot reach the build tree (often under /root):
        # the CLI and its library go where they can.
        for f in os.listdir(LIBDIR):
            if not os.path.isfile(os.path.join(LIBDIR, f)):
                continue
            if f.startswith("libwinrm-broker.so") or f == "winrm-broker":
                shutil.copy2(os.path.join(LIBDIR, f), os.path.join(self.dir, "bin", f),
                             follow_symlinks=True)
        self.cli_path = os.path.join(self.dir, "bin", "winrm-broker")
        self.proc = None

    def write_policy(self, files):
        """Replaces the policy directory's files (root-owned, 0600)."""
        for f in os.listdir(self.policy_dir):
            os.unlink(os.path.join(self.policy_dir, f))
        for name, text in files.items():
            path = os.path.join(self.policy_dir, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o600)

    def write_config(self, host_section="", broker_extra="", extra_sections=""):
        e = self.bed_env
        text = ("[broker]\nsocket = %s\nstate_dir = %s\nmaster_key = %s\nlog_level = debug\n"
                "policy_dir = %s\naudit_file = %s\ntranscript_dir = %s\n%s\n"
                "[host localhost]\nca_trust_path = %s\ntransport = %s\n%s\n%s"
                % (self.socket, os.path.join(self.dir, "state"), self.key, self.policy_dir,
                   self.audit_path, self.transcript_dir, broker_extra,
                   e["WINRM_CA_CERT"], self.transports, host_section, extra_sections))
        with open(self.config, "w") as f:
            f.write(text)

    def start(self, timeout=10):
        notify = os.path.join(self.dir, "notify")
        if getattr(self, "notify_sock", None):
            self.notify_sock.close()
        if os.path.exists(notify):
            os.unlink(notify)
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(notify)
        ns.settimeout(timeout)
        env = dict(os.environ, NOTIFY_SOCKET=notify)
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BROKERD, "-c", self.config], env=env,
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        self.notifications = []
        try:
            while True:
                msg = ns.recv(4096).decode()
                self.notifications.append(msg)
                if "READY=1" in msg:
                    break
        except socket.timeout:
            self.proc.kill()
            raise RuntimeError("winrm-brokerd did not report READY: " + self.log())
        finally:
            self.notify_sock = ns
        return self.proc.pid

    def read_notifications(self, timeout=0.5):
        self.notify_sock.settimeout(timeout)
        try:
            while True:
                self.notifications.append(self.notify_sock.recv(4096).decode())
        except (socket.timeout, BlockingIOError):
            pass
        return self.notifications

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        return self.proc.returncode if self.proc else None

    def remove(self):
        self.stop()
        if getattr(self, "notify_sock", None):
            self.notify_sock.close()
        if os.environ.get("WINRM_KEEP_BED") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def audit(self):
        """The audit file's records (JSON lines), oldest first."""
        try:
            with open(self.audit_path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def cli(self, *args, user=None, input=None, timeout=60, env=None):
        """Runs the CLI as root, or as user (a LocalUser) through runuser."""
        cmd = [self.cli_path, "--socket", self.socket] + list(args)
        run_env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": os.path.join(self.dir, "bin"),
                   "LANG": "C.UTF-8"}
        run_env.update(env or {})
        if user is not None:
            cmd = ["runuser", "-u", user.name, "--", "env"] + \
                  ["%s=%s" % kv for kv in run_env.items()] + cmd
            run_env = None
        return subprocess.run(cmd, input=input, capture_output=True, timeout=timeout,
                              env=run_env)

    def rss_kb(self, field="VmHWM"):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise KeyError(field)

    def reset_peak_rss(self):
        with open("/proc/%d/clear_refs" % self.proc.pid, "w") as f:
            f.write("5")


def wait_for(pred, timeout=10, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()
