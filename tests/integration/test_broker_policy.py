#!/usr/bin/python3
"""Policy and audit through a real winrm-brokerd, end to end (the acceptance
of the policy-and-audit issue).

- A matrix of real local users and groups x credentials x hosts x commands
  under a policy of several files: every `winrm-broker run` is allowed or
  denied by the rule we expect, the denial names it on stderr, the audit's
  decision line names it, nothing denied reaches the test host, and
  `winrm-broker policy check --user U` (as root) gives the same decision
  and rule for every case.
- `audit verify` on the broker's log after the matrix: intact; an edited, a
  truncated, a reordered (and a shortened) copy fail, naming the line.
- A full disk under the audit file (a tiny tmpfs; else a file size limit)
  refuses operations: refused, never run unaudited.
- Passwords on a command line are redacted in the audit file and the journal
  (a journald started here by hand when none runs).
- max_runtime_sec ends a long command; transcript = yes keeps a 0600
  transcript whose hash is in the outcome line."""
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bedfixture import Bed  # noqa: E402
from brokerfixture import Broker, LocalGroup, LocalUser, is_root, wait_for  # noqa: E402

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
JOURNAL_SOCKET = "/run/systemd/journal/socket"
JOURNALD = "/lib/systemd/systemd-journald"

BED = None


def setUpModule():
    global BED
    if is_root():
        BED = Bed()


def tearDownModule():
    if BED:
        BED.down()


# -- helpers -------------------------------------------------------------------------

def rule_lines(policy):
    """{rule name: (file name, line of its [rule] header)} of a policy dict."""
    where = {}
    for fname, text in policy.items():
        for i, line in enumerate(text.splitlines(), 1):
            m = re.match(r"\s*\[rule ([^\]]+)\]\s*$", line)
            if m:
                where[m.group(1)] = (fname, i)
    return where


class AuditTail:
    """The records appended to an audit file since the last call."""

    def __init__(self, path):
        self.path = path
        self.offset = 0

    def new(self):
        if not os.path.exists(self.path):
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        return [json.loads(line) for line in data[:end].splitlines()]

    def all(self):
        with open(self.path, "rb") as f:
            return [json.loads(line) for line in f.read().splitlines()]


def bed_commands(since=0):
    return [e for e in BED.log()[since:] if e.get("event") == "command"]


def host_section(env, host, transports="basic, certificate"):
    return "[host %s]\nca_trust_path = %s\ntransport = %s\n" % (host, env["WINRM_CA_CERT"],
                                                             transports)


def text(res):
    return res.stderr.decode(errors="replace")


def assert_clean_stop(test, broker):
    """SIGTERM: the broker exits 0, and (sanitizer build) reported nothing."""
    test.assertEqual(broker.stop(), 0, broker.log()[-3000:])
    log = broker.log()
    for bad in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        test.assertNotIn(bad, log)


# -- 1 and 2: the matrix, policy check, audit verify -----------------------------------

PFX, EXACT, DENIED, UNLISTED = ("echo pfx-ok", "printf exact-ok", "echo forbidden-word",
                                "printf unlisted")
COMMANDS = {"prefix": PFX, "exact": EXACT, "deny-regex": DENIED, "unlisted": UNLISTED}
CREDS = {"ops-pw": ("shared", "basic"), "team-cert": ("shared", "certificate"),
         "mine": ("personal", "basic")}
HOSTS = ("localhost", "127.0.0.1")

# The reason each kind of denial gives (policy/decide.c, docs/policy.md).
WHY_TEXT = {
    "deny-rule": "the rule denies",
    "transport": "transports: the broker would try",
    "command-denied": "command matches deny regex",
    "command-not-allowed": "command matches none of the rule's",
    "no-rule": "no rule matches user",
    "expired": "matches but expired",
    "outside-time": "is outside its time windows",
}


def matrix_policy(ops, dev, out, devuser):
    closed_day = DAYS[(time.localtime().tm_wday + 3) % 7]     # certainly not today
    return {
        "10-deny.conf": (
            "# dev never on the IP literal, whatever the shared credential\n"
            "[rule no-dev-on-ip]\n"
            "action = deny\n"
            "groups = %s\n"
            "credentials = *\n"
            "hosts = 127.0.0.1\n"
            "\n"
            "# a grant that no longer exists: steps aside\n"
            "[rule expired-grant]\n"
            "groups = %s\n"
            "credentials = team-cert\n"
            "hosts = *\n"
            "expires = 2020-01-31\n"
            "\n"
            "# the outsider only on a day that is not today: steps aside\n"
            "[rule closed-window]\n"
            "users = %s\n"
            "credentials = *\n"
            "hosts = *\n"
            "time = %s 00:00-24:00\n" % (dev, dev, out, closed_day)),
        "20-ops.conf": (
            "# first match: team-cert on the loopback network only over Kerberos,\n"
            "# although ops-servers below would allow certificates\n"
            "[rule ops-cert-ip]\n"
            "groups = %s\n"
            "credentials = team-cert\n"
            "hosts = 127.0.0.0/8\n"
            "transports = kerberos, negotiate\n"
            "\n"
            "[rule ops-servers]\n"
            "groups = %s\n"
            "credentials = ops-pw, team-cert, acl-pw\n"
            "hosts = localhost, 127.0.0.1\n"
            "transports = basic, certificate\n"
            "command_deny = regex:forbidden\n"
            "command_allow = prefix:echo\n"
            "command_allow = exact:printf exact-ok\n" % (ops, ops)),
        "30-dev.conf": (
            "[rule dev-personal]\n"
            "groups = %s\n"
            "credentials = personal\n"
            "hosts = localhost\n"
            "command_deny = regex:forbidden\n"
            "command_allow = prefix:echo\n"
            "command_allow = exact:printf exact-ok\n"
            "\n"
            "[rule dev-shared]\n"
            "users = %s\n"
            "credentials = ops-pw\n"
            "hosts = localhost\n"
            "command_allow = exact:printf exact-ok\n" % (dev, devuser)),
    }


def expect(who, cred, host, kind):
    """What the matrix policy decides: ("allow"|"deny", rule name or None for
    the default deny, why, rule a near-miss reason names) or ("error",) when
    the credential does not exist for the caller."""
    def commands(rule):
        return {"prefix": ("allow", rule, "allowed", None),
                "exact": ("allow", rule, "allowed", None),
                "deny-regex": ("deny", rule, "command-denied", None),
                "unlisted": ("deny", rule, "command-not-allowed", None)}[kind]

    if cred == "mine" and who != "dev":
        return ("error",)
    if who == "ops":
        if cred == "team-cert" and host == "127.0.0.1":
            return ("deny", "ops-cert-ip", "transport", None)
        return commands("ops-servers")
    if who == "dev":
        if cred == "mine":
            return commands("dev-personal") if host == "localhost" else \
                ("deny", None, "no-rule", None)
        if host == "127.0.0.1":
            return ("deny", "no-dev-on-ip", "deny-rule", None)
        if cred == "team-cert":
            return ("deny", None, "expired", "expired-grant")
        if kind == "exact":
            return ("allow", "dev-shared", "allowed", None)
        return ("deny", "dev-shared", "command-not-allowed", None)
    return ("deny", None, "outside-time", "closed-window")


@unittest.skipUnless(is_root(), "needs root: creates local users and groups, runs the broker")
class PolicyMatrixTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = BED.env
        cls.port = cls.env["WINRM_HTTPS_PORT"]
        cls.ops_group, cls.dev_group = LocalGroup(), LocalGroup()
        cls.addClassCleanup(cls.ops_group.drop)
        cls.addClassCleanup(cls.dev_group.drop)
        cls.users = {"ops": LocalUser(groups=[cls.ops_group.name]),
                     "dev": LocalUser(groups=[cls.dev_group.name]),
                     "out": LocalUser()}
        for u in cls.users.values():
            cls.addClassCleanup(u.drop)
        cls.policy = matrix_policy(cls.ops_group.name, cls.dev_group.name,
                                   cls.users["out"].name, cls.users["dev"].name)
        cls.rules = rule_lines(cls.policy)
        cls.broker = Broker(cls.env, policy=cls.policy,
                            extra_sections=host_section(cls.env, "127.0.0.1"))
        cls.addClassCleanup(cls.broker.remove)
        cls.broker.start()
        cls.audit = AuditTail(cls.broker.audit_path)
        pw = (cls.env["WINRM_PASSWORD"] + "\n").encode()
        cls.ok(cls.broker.cli("cred", "add", "ops-pw", "--shared", "--user",
                              cls.env["WINRM_USER"], "--password-stdin", input=pw))
        cls.ok(cls.broker.cli("cred", "add", "team-cert", "--shared", "--cert",
                              cls.env["WINRM_CLIENT_CERT"], "--key", cls.env["WINRM_CLIENT_KEY"]))
        # The credential's own ACL names dev only: it restricts on top of the policy.
        cls.ok(cls.broker.cli("cred", "add", "acl-pw", "--shared", "--user", cls.env["WINRM_USER"],
                              "--password-stdin", "--allow-user", cls.users["dev"].name,
                              input=pw))
        cls.ok(cls.broker.cli("cred", "add", "mine", "--user", cls.env["WINRM_USER"],
                              "--password-stdin", user=cls.users["dev"], input=pw))

    @staticmethod
    def ok(res):
        if res.returncode != 0:
            raise AssertionError("exit %d: %s" % (res.returncode, text(res)))
        return res

    # -- checking one case ---------------------------------------------------------
    def rule_ref(self, name):
        fname, line = self.rules[name]
        return "%s:%d" % (fname, line)

    def assert_rule(self, haystack, rule, what):
        """haystack names the rule by file:line (or says default deny)."""
        if rule is None:
            self.assertRegex(haystack, r"(?i)default[ -]deny", what)
        else:
            self.assertRegex(haystack, re.escape(self.rule_ref(rule)) + r"\b", what)

    def target_args(self, cred, transport):
        scope = CREDS[cred][0]
        return ["--cred", cred, "--" + scope, "-t", transport, "-o", "port=%s" % self.port]

    def run_case(self, who, cred, host, command):
        transport = CREDS[cred][1]
        return self.broker.cli("run", *self.target_args(cred, transport), "-n", host, "--",
                               command, user=self.users[who])

    def check_case(self, who, cred, host, command, json_out=True, as_user=None):
        transport = CREDS[cred][1]
        args = ["policy", "check"]
        if as_user is None:
            args += ["--user", self.users[who].name]
        args += self.target_args(cred, transport)
        if json_out:
            args.append("--json")
        return self.broker.cli(*args, host, "--", command, user=as_user)

    def one_case(self, who, cred, host, kind, summary):
        command = COMMANDS[kind]
        exp = expect(who, cred, host, kind)
        user = self.users[who]
        n_bed = len(BED.log())
        self.audit.new()
        res = self.run_case(who, cred, host, command)
        reached = [e["command"] for e in bed_commands(n_bed)]
        recs = self.audit.new()
        decisions = [r for r in recs if r.get("event") == "decision"]
        chk = self.check_case(who, cred, host, command)
        summary.append((who, cred, host, kind, exp[0], res.returncode, chk.returncode))

        if exp[0] == "error":
            self.assertEqual(res.returncode, 255, text(res))
            self.assertIn("no credential 'mine'", text(res))
            self.assertEqual(reached, [])
            self.assertEqual([d for d in decisions if d.get("decision") == "allow"], [])
            self.assertEqual(chk.returncode, 255, "policy check: " + text(chk))
            self.assertIn("mine", text(chk))
            return

        verdict, rule, why, near = exp
        # The broker: the run, what reached the host, the audit's decision line.
        self.assertEqual(len(decisions), 1, recs)
        d = decisions[0]
        self.assertEqual(d.get("decision"), verdict, d)
        self.assertEqual((d.get("operation"), d.get("uid"), d.get("user"), d.get("cred"),
                          d.get("host"), d.get("command")),
                         ("run", user.uid, user.name, cred, host, command), d)
        self.assert_rule(d.get("rule", ""), rule, "audit decision rule: %r" % d)
        if verdict == "allow":
            self.assertEqual(res.returncode, 0, text(res))
            self.assertEqual(res.stdout, {"prefix": b"pfx-ok\n", "exact": b"exact-ok"}[kind])
            self.assertEqual(reached, [command])
            outcomes = [r for r in recs if r.get("event") == "outcome"]
            self.assertEqual(len(outcomes), 1, recs)
            o = outcomes[0]
            self.assertEqual(o.get("op_id"), d.get("op_id"))
            self.assertEqual((o.get("exit_code"), o.get("stdout_bytes"), o.get("stderr_bytes")),
                             (0, len(res.stdout), 0), o)
            self.assertIn("duration_ms", o)
            self.assert_rule(o.get("rule", ""), rule, "audit outcome rule: %r" % o)
        else:
            self.assertEqual(res.returncode, 255, text(res))
            err = text(res)
            self.assertTrue(err.startswith("winrm-broker: "), err)
            self.assert_rule(err, rule, "stderr of the denied run")
            self.assertIn(WHY_TEXT[why], err)
            if near:
                self.assertIn("'%s'" % near, err)
            self.assertEqual(reached, [], "a denied command reached the test host")
            self.assertEqual([r for r in recs if r.get("event") == "outcome"], [])
            self.assertIn(WHY_TEXT[why], d.get("reason", ""))

        # policy check, as root for the user: the same decision and rule.
        self.assertEqual(chk.returncode, 0 if verdict == "allow" else 1,
                         "policy check: %s %s" % (chk.stdout, text(chk)))
        c = json.loads(chk.stdout)
        self.assertEqual(c["allow"], verdict == "allow", c)
        self.assert_rule(c["rule"], rule, "policy check rule: %r" % c)
        if rule:
            self.assertIn("[rule %s]" % rule, c["rule"])
        if verdict == "allow":
            self.assertEqual(c["transports"], [CREDS[cred][1]], c)
        else:
            self.assertIn(WHY_TEXT[why], c["reason"])
            self.assertIn(c["reason"], text(res))   # the run said the same thing

    def test_a_matrix(self):
        summary = []
        t0 = time.monotonic()
        for who in ("ops", "dev", "out"):
            for cred in CREDS:
                for host in HOSTS:
                    for kind in COMMANDS:
                        with self.subTest(user=who, cred=cred, host=host, command=kind):
                            self.one_case(who, cred, host, kind, summary)
        verdicts = [s[4] for s in summary]
        print("\nmatrix: %d cases (%d allow, %d deny, %d no such credential) in %.1f s"
              % (len(summary), verdicts.count("allow"), verdicts.count("deny"),
                 verdicts.count("error"), time.monotonic() - t0))
        self.assertEqual(len(summary), 72)

    def test_a_matrix_plain_output_and_own_check(self):
        # Plain text: allow/deny, then rule: and reason: lines.
        res = self.check_case("ops", "ops-pw", "localhost", PFX, json_out=False)
        self.assertEqual(res.returncode, 0, text(res))
        lines = res.stdout.decode().splitlines()
        self.assertEqual(lines[0], "allow")
        self.assertTrue(any(ln.startswith("rule: ") and self.rule_ref("ops-servers") in ln
                            for ln in lines), lines)
        self.assertTrue(any(ln.startswith("reason: ") for ln in lines), lines)
        res = self.check_case("dev", "ops-pw", "127.0.0.1", PFX, json_out=False)
        self.assertEqual(res.returncode, 1, text(res))
        lines = res.stdout.decode().splitlines()
        self.assertEqual(lines[0], "deny")
        self.assertTrue(any(ln.startswith("rule: ") and self.rule_ref("no-dev-on-ip") in ln
                            for ln in lines), lines)
        self.assertTrue(any(ln.startswith("reason: ") and "the rule denies" in ln
                            for ln in lines), lines)
        # A user may check for itself; not for someone else.
        res = self.check_case("ops", "team-cert", "127.0.0.1", PFX, as_user=self.users["ops"])
        self.assertEqual(res.returncode, 1, text(res))
        self.assertIn(self.rule_ref("ops-cert-ip"), json.loads(res.stdout)["rule"])
        res = self.broker.cli("policy", "check", "--user", self.users["dev"].name,
                              *self.target_args("ops-pw", "basic"), "--json", "localhost", "--",
                              EXACT, user=self.users["ops"])
        self.assertEqual(res.returncode, 255, res)
        self.assertRegex(text(res), r"root|admin")

    def test_a_matrix_credential_acl_still_restricts(self):
        """acl-pw lists dev only: the policy lets ops use it, the ACL does not;
        dev is in the ACL, but no rule grants it to dev."""
        n_bed = len(BED.log())
        res = self.broker.cli("run", "--cred", "acl-pw", "--shared", "-t", "basic",
                              "-o", "port=%s" % self.port, "-n", "localhost", "--", PFX,
                              user=self.users["ops"])
        self.assertEqual(res.returncode, 255, text(res))
        self.assertIn("not available to uid", text(res))
        res = self.broker.cli("run", "--cred", "acl-pw", "--shared", "-t", "basic",
                              "-o", "port=%s" % self.port, "-n", "localhost", "--", PFX,
                              user=self.users["dev"])
        self.assertEqual(res.returncode, 255, text(res))
        self.assertIn(WHY_TEXT["no-rule"], text(res))
        self.assertEqual(bed_commands(n_bed), [])
        chk = self.broker.cli("policy", "check", "--user", self.users["ops"].name, "--cred",
                              "acl-pw", "--shared", "-t", "basic", "-o", "port=%s" % self.port,
                              "--json", "localhost", "--", PFX)
        print("\npolicy check for ops with acl-pw (ACL refuses the run): exit %d %s %s"
              % (chk.returncode, chk.stdout.decode().strip(), text(chk).strip()))

    def test_a_matrix_cred_test_is_decided(self):
        ops = self.users["ops"]
        self.audit.new()
        n_bed = len(BED.log())
        res = self.broker.cli("cred", "test", "team-cert", "127.0.0.1", "--shared", "-t",
                              "certificate", "-o", "port=%s" % self.port, user=ops)
        self.assertEqual(res.returncode, 1, text(res))
        self.assert_rule(text(res), "ops-cert-ip", "stderr of the denied cred test")
        self.assertEqual([e for e in BED.log()[n_bed:] if e.get("event") == "auth"], [])
        d = [r for r in self.audit.new() if r.get("event") == "decision"]
        self.assertEqual([(r.get("operation"), r.get("decision")) for r in d],
                         [("cred-test", "deny")], d)
        res = self.broker.cli("cred", "test", "ops-pw", "localhost", "--shared", "-t", "basic",
                              "-o", "port=%s" % self.port, user=ops)
        self.assertEqual(res.returncode, 0, text(res))
        recs = self.audit.new()
        self.assertEqual([(r.get("event"), r.get("operation"), r.get("decision"))
                          for r in recs],
                         [("decision", "cred-test", "allow"), ("outcome", "cred-test", None)],
                         recs)
        self.assert_rule(recs[0].get("rule", ""), "ops-servers", "cred test decision")

    # -- 2: audit verify ---------------------------------------------------------------
    def verify(self, *args):
        return self.broker.cli("audit", "verify", *args)

    def test_b_audit_verify(self):
        live = self.broker.audit_path
        res = self.verify(live)
        self.assertEqual(res.returncode, 0, res)
        self.assertTrue(res.stdout.startswith(b"intact: "), res.stdout)
        with open(live, "rb") as f:
            lines = f.read().splitlines(keepends=True)
        self.assertGreater(len(lines), 40, "the matrix should have left its records")
        recs = [json.loads(ln) for ln in lines]
        work = tempfile.mkdtemp(prefix="audit-copies-")
        self.addCleanup(shutil.rmtree, work, ignore_errors=True)

        def copy(name, data):
            path = os.path.join(work, name)
            with open(path, "wb") as f:
                f.write(b"".join(data) if isinstance(data, list) else data)
            return path

        def bad(path, line, kind, *extra):
            res = self.verify(*extra, path)
            out = (res.stdout + res.stderr).decode(errors="replace")
            self.assertEqual(res.returncode, 1, out)
            want = "%s:%d: %s" % (path, line, kind) if line else "%s: %s" % (path, kind)
            self.assertIn(want, out)
            return out

        self.assertEqual(self.verify("--no-head", copy("intact.log", lines)).returncode, 0)
        # Edited: a denial turned into an allow.
        k = next(i for i, r in enumerate(recs) if r.get("decision") == "deny")
        edited = list(lines)
        edited[k] = edited[k].replace(b'"decision":"deny"', b'"decision":"allow"')
        self.assertNotEqual(edited[k], lines[k])
        bad(copy("edited.log", edited), k + 1, "edited", "--no-head")
        # Truncated mid-line: the file ends inside its last line.
        data = b"".join(lines)
        bad(copy("cut.log", data[:-20]), len(lines), "truncated", "--no-head")
        # Whole lines cut from the end: only the head anchor shows it.
        short = copy("short.log", lines[:-3])
        shutil.copy(live + ".head", short + ".head")
        out = bad(short, 0, "truncated")
        self.assertIn("3 line(s)", out)
        # Reordered: two lines swapped in the middle; the first is named.
        k = len(lines) // 2
        swapped = list(lines)
        swapped[k], swapped[k + 1] = swapped[k + 1], swapped[k]
        bad(copy("reordered.log", swapped), k + 1, "reordered", "--no-head")
        # Deleted: one line removed in the middle.
        bad(copy("deleted.log", lines[:k] + lines[k + 1:]), k + 1, "deleted", "--no-head")

    def test_b_audit_show(self):
        dev = self.users["dev"]
        res = self.broker.cli("audit", "show", "--file", self.broker.audit_path, "--user",
                              dev.name, "--json")
        self.assertEqual(res.returncode, 0, text(res))
        recs = [json.loads(ln) for ln in res.stdout.splitlines()]
        self.assertGreater(len(recs), 0)
        self.assertEqual({r.get("user") for r in recs}, {dev.name})
        res = self.broker.cli("audit", "show", "--file", self.broker.audit_path, "--host",
                              "127.0.0.1")
        self.assertEqual(res.returncode, 0, text(res))
        shown = res.stdout.decode().splitlines()
        self.assertGreater(len(shown), 0)
        self.assertTrue(all("host=127.0.0.1" in ln for ln in shown), shown[:3])

    def test_c_clean_stop(self):
        assert_clean_stop(self, self.broker)


# -- 3: a full disk under the audit file ----------------------------------------------

@unittest.skipUnless(is_root(), "needs root: mounts a tmpfs, runs the broker")
class AuditFullDiskTest(unittest.TestCase):
    def setUp(self):
        self.env = BED.env
        self.port = self.env["WINRM_HTTPS_PORT"]
        self.broker = Broker(self.env)            # the fixture's permissive default policy
        self.addCleanup(self.broker.remove)
        self.user = LocalUser()
        self.addCleanup(self.user.drop)
        self.fs = None
        self.mounts = []
        self.addCleanup(self.unmount)
        try:
            self.mount_tmpfs()
        except (subprocess.CalledProcessError, OSError) as e:
            self.unmount()
            print("\ncannot mount a tmpfs (%s): a file size limit instead" % e)

    def mount_tmpfs(self):
        """The audit file lives on a 256 KiB tmpfs, bind-mounted at the path
        the broker is configured with (its .head stays beside it)."""
        fs = os.path.join(self.broker.dir, "auditfs")
        os.mkdir(fs, 0o700)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", fs],
                       check=True, capture_output=True)
        self.mounts.append(fs)
        real = os.path.join(fs, "audit.log")
        for p in (real, self.broker.audit_path):
            os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
        subprocess.run(["mount", "--bind", real, self.broker.audit_path], check=True,
                       capture_output=True)
        self.mounts.append(self.broker.audit_path)
        self.fs = fs

    def unmount(self):
        self.broker.stop()
        while self.mounts:
            m = self.mounts.pop()
            if subprocess.run(["umount", m], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", m], capture_output=True)

    def fill(self):
        if self.fs:
            fd = os.open(os.path.join(self.fs, "filler"), os.O_CREAT | os.O_WRONLY, 0o600)
            try:
                while os.write(fd, b"\0" * 4096) > 0:
                    pass
            except OSError:
                pass
            finally:
                os.close(fd)
            return "No space left on device"
        # A soft file size limit at the log's current size: no record fits.
        # (Only the soft limit: raising a hard limit again needs CAP_SYS_RESOURCE.)
        size = os.path.getsize(self.broker.audit_path)
        subprocess.run(["prlimit", "--pid", str(self.broker.proc.pid),
                        "--fsize=%d:unlimited" % size], check=True, capture_output=True)
        return "File too large"

    def free(self):
        if self.fs:
            os.unlink(os.path.join(self.fs, "filler"))
        else:
            subprocess.run(["prlimit", "--pid", str(self.broker.proc.pid),
                            "--fsize=unlimited:unlimited"], check=True, capture_output=True)

    def run_as(self, command):
        return self.broker.cli("run", "--cred", "pw", "--shared", "-o", "port=%s" % self.port,
                               "-n", "localhost", "--", command, user=self.user)

    def test_full_disk_refuses_operations(self):
        self.broker.start()
        pw = (self.env["WINRM_PASSWORD"] + "\n").encode()
        self.assertEqual(self.broker.cli("cred", "add", "pw", "--shared", "--user",
                                         self.env["WINRM_USER"], "--password-stdin",
                                         input=pw).returncode, 0)
        res = self.run_as("echo before")
        self.assertEqual((res.returncode, res.stdout), (0, b"before\n"), text(res))
        why = self.fill()
        n_bed = len(BED.log())
        # The log's last page may still hold a record or two: whatever runs
        # until the first refusal must be in the audit. A decision may fit
        # where its outcome then does not: that command ran, and only its
        # outcome is missing (noted, not failed: see the report below).
        refused, outcome_lost = None, []
        for i in range(12):
            command = "echo filling-%d" % i
            n = len(BED.log())
            res = self.run_as(command)
            ran = [e["command"] for e in bed_commands(n)] == [command]
            if res.returncode == 255 and "audit" in text(res) and not ran:
                refused = res
                break
            if res.returncode == 255 and ran:
                outcome_lost.append((command, res.stdout, text(res).strip()))
                continue
            self.assertEqual(res.returncode, 0, text(res))
        self.assertIsNotNone(refused, "the broker kept running commands on a full disk")
        for command, out, err in outcome_lost:
            print("\nran, but its outcome could not be recorded: %r printed %r, then: %s"
                  % (command, out, err))
        err = text(refused)
        self.assertIn(why, err)
        self.assertIn("refused", err)
        # From now on: every run and credential test is refused, nothing reaches the host.
        n_refused = len(BED.log())
        for command in ("echo short", "echo " + "x" * 6000):
            res = self.run_as(command)
            self.assertEqual(res.returncode, 255, text(res))
            self.assertIn("audit", text(res))
            self.assertIn(why, text(res))
        res = self.broker.cli("cred", "test", "pw", "localhost", "--shared", "-o",
                              "port=%s" % self.port, user=self.user)
        self.assertEqual(res.returncode, 1, text(res))
        self.assertIn("audit", text(res))
        self.assertEqual(bed_commands(n_refused), [], "a command ran while audit was refused")
        self.assertEqual([e for e in BED.log()[n_refused:] if e.get("event") == "auth"], [],
                         "a credential was used while audit was refused")
        # Everything that did reach the host is in the audit, decision and outcome.
        recs = AuditTail(self.broker.audit_path).all()
        logged = {r.get("command") for r in recs if r.get("decision") == "allow"}
        for e in bed_commands(n_bed):
            self.assertIn(e["command"], logged)
        # Space again: the next operation is recorded and runs; the file is whole.
        self.free()
        res = self.run_as("echo after")
        self.assertEqual((res.returncode, res.stdout), (0, b"after\n"), text(res))
        self.assertIn("echo after", {r.get("command") for r in
                                     AuditTail(self.broker.audit_path).all()})
        res = self.broker.cli("audit", "verify", self.broker.audit_path)
        self.assertEqual(res.returncode, 0, res)
        print("\nfull audit disk (%s): refused with: %s" % ("tmpfs" if self.fs else "prlimit",
                                                            err.strip()))
        assert_clean_stop(self, self.broker)


# -- 4, 5, 6: redaction (file and journal), max_runtime_sec, transcripts ----------------

def journald_running():
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/comm" % pid) as f:
                    if f.read().strip() == "systemd-journal":
                        return True
            except OSError:
                pass
    return False


def journal_reachable():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.sendto(b"MESSAGE=winrm-broker policy test probe\nSYSLOG_IDENTIFIER=wb-test-probe\n",
                 JOURNAL_SOCKET)
        return True
    except OSError:
        return False
    finally:
        s.close()


SINKS_POLICY = {
    "10-limits.conf": (
        "[rule slow]\n"
        "users = *\n"
        "credentials = slow-pw\n"
        "hosts = *\n"
        "command_allow = prefix:sleep\n"
        "max_runtime_sec = 2\n"
        "\n"
        "[rule recorded]\n"
        "users = *\n"
        "credentials = pw\n"
        "hosts = 127.0.0.1\n"
        "transcript = yes\n"
        "\n"
        "[rule rest]\n"
        "users = *\n"
        "credentials = pw\n"
        "hosts = localhost\n"),
}

SECRETS = (b"Secr3tA", b"Secr3tB", b"482913")
REDACTED = {
    "net use \\\\h\\s Secr3tA /user:x": "net use \\\\h\\s [REDACTED] /user:x",
    "Get-Thing -Password Secr3tB -Name n": "Get-Thing -Password [REDACTED] -Name n",
    "unlock pin 482913 now": "unlock pin [REDACTED] now",        # a configured pattern
}


@unittest.skipUnless(is_root(), "needs root: runs the broker (and journald)")
class AuditSinksTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = BED.env
        cls.port = cls.env["WINRM_HTTPS_PORT"]
        cls.journald = None
        cls.journal_skip = None
        if not journald_running():
            if os.path.exists(JOURNALD):
                cls.journald = subprocess.Popen([JOURNALD], stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL)
                cls.addClassCleanup(cls.stop_journald)
            else:
                cls.journal_skip = "no %s here" % JOURNALD
        if not cls.journal_skip and not wait_for(journal_reachable, timeout=5):
            cls.journal_skip = "journald does not answer on " + JOURNAL_SOCKET
        cls.since = time.time()
        d = tempfile.mkdtemp(prefix="wb-redact-")
        cls.addClassCleanup(shutil.rmtree, d, ignore_errors=True)
        cls.redact_file = os.path.join(d, "redact")
        with open(cls.redact_file, "w") as f:
            f.write("pin[[:space:]]+([0-9]+)\n")
        os.chmod(cls.redact_file, 0o600)
        cls.broker = Broker(cls.env, policy=SINKS_POLICY,
                            extra_sections=host_section(cls.env, "127.0.0.1"),
                            broker_extra="audit_redact_file = %s\n" % cls.redact_file)
        cls.addClassCleanup(cls.broker.remove)
        cls.broker.start()
        pw = (cls.env["WINRM_PASSWORD"] + "\n").encode()
        for name in ("pw", "slow-pw"):
            res = cls.broker.cli("cred", "add", name, "--shared", "--user", cls.env["WINRM_USER"],
                                 "--password-stdin", input=pw)
            if res.returncode != 0:
                raise AssertionError(text(res))
        cls.audit = AuditTail(cls.broker.audit_path)
        cls.redaction_ops = None

    @classmethod
    def stop_journald(cls):
        cls.journald.terminate()
        try:
            cls.journald.wait(10)
        except subprocess.TimeoutExpired:
            cls.journald.kill()
            cls.journald.wait()

    def run_cmd(self, cred, host, command, input=None):
        args = ["run", "--cred", cred, "--shared", "-o", "port=%s" % self.port]
        if input is None:
            args.append("-n")
        return self.broker.cli(*args, host, "--", command, input=input)

    def records_of(self, recs, op_id):
        return [r for r in recs if r.get("op_id") == op_id]

    # -- 4: redaction ----------------------------------------------------------------
    def redaction_runs(self):
        """Runs the commands carrying secrets once; {command: op_id}."""
        if self.__class__.redaction_ops is None:
            ops = {}
            for command in REDACTED:
                self.audit.new()
                res = self.run_cmd("pw", "localhost", command)
                self.assertEqual(res.returncode, 127, text(res))   # not found by /bin/sh
                decisions = [r for r in self.audit.new() if r.get("event") == "decision"]
                self.assertEqual(len(decisions), 1)
                ops[command] = decisions[0]["op_id"]
            self.__class__.redaction_ops = ops
        return self.__class__.redaction_ops

    def test_redaction_in_audit_file(self):
        ops = self.redaction_runs()
        recs = self.audit.all()
        for command, op_id in ops.items():
            mine = self.records_of(recs, op_id)
            self.assertEqual([r["event"] for r in mine], ["decision", "outcome"], mine)
            for r in mine:
                self.assertEqual(r.get("command"), REDACTED[command], r)
        with open(self.broker.audit_path, "rb") as f:
            data = f.read()
        for s in SECRETS:
            self.assertNotIn(s, data)
        # The test host did get the real command line (redaction is for the record only).
        self.assertIn("net use \\\\h\\s Secr3tA /user:x", [e["command"] for e in bed_commands()])

    def test_redaction_in_broker_log(self):
        self.redaction_runs()
        with open(self.broker.log_path, "rb") as f:
            data = f.read()
        for s in SECRETS:
            self.assertNotIn(s, data, "the broker's own log (log_level = debug) has a secret")

    def test_redaction_in_journal(self):
        if self.journal_skip:
            self.skipTest("journal half skipped: " + self.journal_skip)
        ops = self.redaction_runs()
        pid = str(self.broker.proc.pid)

        def entries():
            res = subprocess.run(["journalctl", "-o", "json", "--no-pager", "_PID=" + pid],
                                 capture_output=True, timeout=30)
            return res.stdout, [json.loads(ln) for ln in res.stdout.splitlines() if ln.strip()]

        def have_all():
            got = {e.get("WINRM_BROKER_OP_ID") for e in entries()[1]}
            return all(op in got for op in ops.values())

        self.assertTrue(wait_for(have_all, timeout=10),
                        "the broker's audit entries did not reach the journal")
        raw, ents = entries()
        for s in SECRETS:
            self.assertNotIn(s, raw)
        for command, op_id in ops.items():
            mine = [e for e in ents if e.get("WINRM_BROKER_OP_ID") == op_id]
            self.assertEqual(sorted(e.get("WINRM_BROKER_EVENT") for e in mine),
                             ["decision", "outcome"], mine)
            for e in mine:
                self.assertEqual(e.get("WINRM_BROKER_COMMAND"), REDACTED[command], e)
                self.assertIn("WINRM_BROKER_AUDIT_SEQ", e)
        # The journal anchors the file.
        res = self.broker.cli("audit", "verify", "--journal", self.broker.audit_path)
        self.assertEqual(res.returncode, 0, res)

    # -- 5: max_runtime_sec ----------------------------------------------------------
    def test_max_runtime_ends_a_long_command(self):
        self.audit.new()
        n_bed = len(BED.log())
        t0 = time.monotonic()
        res = self.run_cmd("slow-pw", "localhost", "sleep 30")
        took = time.monotonic() - t0
        print("\nsleep 30 under max_runtime_sec = 2: ended after %.1f s: %s"
              % (took, text(res).strip()))
        self.assertLess(took, 10)
        self.assertEqual(res.returncode, 255, text(res))
        self.assertRegex(text(res), r"(?i)max_runtime|time ?out|timed out")
        recs = self.audit.new()
        outcome = [r for r in recs if r.get("event") == "outcome"]
        self.assertEqual(len(outcome), 1, recs)
        o = outcome[0]
        self.assertNotIn("exit_code", o)
        self.assertRegex("%s %s" % (o.get("error_name"), o.get("error")),
                         r"(?i)max_runtime|time ?out|timed out", o)
        self.assertGreaterEqual(o.get("duration_ms", 0), 1900)
        # The remote command was ended, not left running.
        cmds = [e for e in bed_commands(n_bed) if e["command"] == "sleep 30"]
        self.assertEqual(len(cmds), 1)
        cid = cmds[0]["command_id"]
        self.assertTrue(wait_for(lambda: any(e.get("event") == "command_exit" and
                                             e.get("command_id") == cid
                                             for e in BED.log()[n_bed:]), timeout=5),
                        "the remote sleep was not terminated")

    # -- 6: transcripts -------------------------------------------------------------
    def test_transcript(self):
        self.audit.new()
        res = self.run_cmd("pw", "127.0.0.1", "printf out-data; printf err-data >&2; cat",
                           input=b"in-data")
        self.assertEqual((res.returncode, res.stdout, res.stderr),
                         (0, b"out-datain-data", b"err-data"))
        recs = self.audit.new()
        o = [r for r in recs if r.get("event") == "outcome"]
        self.assertEqual(len(o), 1, recs)
        o = o[0]
        self.assertNotEqual(o.get("transcript_complete"), False, o)
        tdir = self.broker.transcript_dir
        path = os.path.join(tdir, o["op_id"] + ".transcript")
        self.assertEqual(o.get("transcript"), path)
        st = os.stat(path)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o600, 0))
        self.assertEqual(stat.S_IMODE(os.stat(tdir).st_mode), 0o700)
        with open(path, "rb") as f:
            data = f.read()
        self.assertEqual(o.get("transcript_bytes"), len(data))
        self.assertEqual(o.get("transcript_blake2b"),
                         hashlib.blake2b(data, digest_size=32).hexdigest())
        # The format: a header line, then "STREAM MS LENGTH\n" + bytes + "\n" chunks.
        header = b"winrm-broker-transcript v1 op=%s\n" % o["op_id"].encode()
        self.assertTrue(data.startswith(header), data[:80])
        pos, streams = len(header), {"stdin": b"", "stdout": b"", "stderr": b""}
        while pos < len(data):
            nl = data.index(b"\n", pos)
            name, ms, length = data[pos:nl].decode().split(" ")
            int(ms)
            body = data[nl + 1:nl + 1 + int(length)]
            self.assertEqual(data[nl + 1 + int(length):nl + 2 + int(length)], b"\n")
            streams[name] += body
            pos = nl + 2 + int(length)
        self.assertEqual(streams, {"stdin": b"in-data", "stdout": b"out-datain-data",
                                   "stderr": b"err-data"})
        # No transcript for a rule that does not ask for one.
        before = set(os.listdir(tdir))
        self.assertEqual(self.run_cmd("pw", "localhost", "echo plain").returncode, 0)
        self.assertEqual(set(os.listdir(tdir)), before)

    def test_z_clean_stop(self):
        assert_clean_stop(self, self.broker)


if __name__ == "__main__":
    unittest.main(verbosity=2)
