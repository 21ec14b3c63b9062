"""The processes behind WinRM shells and commands.

A Shell is a set of settings (account, working directory, environment, code page)
plus the commands started in it. A Command is one process run through /bin/sh -c
(our stand-in for cmd.exe /c). Each command has its own threads:

  two readers  drain stdout/stderr into bounded buffers; a reader pauses while its
               buffer is over OUTPUT_BUFFER_LIMIT, so the pipe fills and the process
               blocks (back-pressure) until Receive takes data out;
  one writer   feeds stdin from a bounded queue filled by Send;
  one waiter   reaps the process and records its exit code.

Receive waits on the command's condition variable with a timeout, so it returns as
soon as output exists and not only at exit.

Failures that Windows reports as a Win32 error inside a WS-Man fault are raised as
ShellError(win32_code, message); wsman.py turns them into faults.
"""

import codecs
import collections
import os
import pwd
import select
import shlex
import signal
import subprocess
import threading
import time

OUTPUT_BUFFER_LIMIT = 1 << 20      # bytes buffered per output stream before the reader pauses
STDIN_PENDING_LIMIT = 1 << 20      # bytes queued for stdin before Send has to wait
READ_CHUNK = 65536                 # bytes per read from a pipe
POLL_MS = 200                      # reader wake-up interval, to notice termination
# After the process exits, background children may still hold the pipes open. Windows
# reports the command Done when the process exits; we wait this long for EOF, then stop.
EOF_GRACE_SECONDS = 1.0
MAX_COMMANDS_PER_SHELL = 100       # commands kept (running or not yet terminated) per shell

SH = '/bin/sh'
DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

# Win32 error codes Windows puts in WSManFault/@Code for shell failures.
ERROR_FILE_NOT_FOUND = 2
ERROR_ACCESS_DENIED = 5
ERROR_INVALID_PARAMETER = 87
ERROR_DIRECTORY = 267


class ShellError(Exception):
    """A failure reported to the client as a WS-Man fault carrying a Win32 code."""

    def __init__(self, code, message, subcode='w:InternalError', sender=False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.subcode = subcode
        self.sender = sender          # True: the client's fault (s:Sender), else s:Receiver


class QuotaError(ShellError):
    def __init__(self, code, message):
        super().__init__(code, message, subcode='w:QuotaLimit', sender=True)


class Account:
    """Whom commands run as. uid None means 'the test host's own user' (no setuid)."""

    def __init__(self, entry, switch):
        self.name = entry.pw_name
        self.home = entry.pw_dir
        self.login_shell = entry.pw_shell or SH
        self.uid = entry.pw_uid if switch else None
        self.gid = entry.pw_gid if switch else None
        self.groups = os.getgrouplist(entry.pw_name, entry.pw_gid) if switch else None


def resolve_account(run_as):
    """run_as only applies when we are root; otherwise commands run as ourselves."""
    if run_as and os.geteuid() == 0:
        try:
            return Account(pwd.getpwnam(run_as), switch=True)
        except KeyError:
            raise ShellError(ERROR_ACCESS_DENIED, 'Access is denied. (no local account %r)' % run_as)
    return Account(pwd.getpwuid(os.geteuid()), switch=False)


def base_environment(account):
    """A clean environment for the account; the test host's own variables do not leak."""
    return {
        'PATH': DEFAULT_PATH,
        'HOME': account.home,
        'USER': account.name,
        'LOGNAME': account.name,
        'SHELL': account.login_shell,
        'LANG': 'C.UTF-8',
    }


def output_transcoder(codepage):
    """Processes here write UTF-8; cmd.exe writes in the shell's code page.
    Returns None for UTF-8 (65001) or an unknown code page (bytes pass through)."""
    if codepage == 65001:
        return None
    name = 'cp%d' % codepage
    try:
        codecs.lookup(name)
    except LookupError:
        return None
    decoder = codecs.getincrementaldecoder('utf-8')('replace')

    def convert(data, final=False):
        return decoder.decode(data, final).encode(name, 'replace')
    return convert


class _Stream:
    def __init__(self, name, pipe, transcode):
        self.name = name
        self.pipe = pipe
        self.transcode = transcode
        self.buf = bytearray()
        self.eof = False
        self.end_sent = False


class ReceiveResult:
    def __init__(self, chunks, done, exit_code):
        self.chunks = chunks          # [(stream name, bytes, end flag)]
        self.done = done
        self.exit_code = exit_code


class Command:
    def __init__(self, command_id, argv, cwd, env, account, codepage, on_exit):
        self.id = command_id
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.account = account
        self.codepage = codepage
        self.on_exit = on_exit        # called with (command, exit_code) from the waiter thread
        self.cond = threading.Condition()
        self.proc = None
        self.streams = {}
        self.exit_code = None
        self.exited_at = None
        self.closed = False           # terminated: readers and writer stop
        self.stdin_queue = collections.deque()
        self.stdin_pending = 0
        self.stdin_end = False
        self.stdin_broken = False

    # --- start -----------------------------------------------------------------

    def start(self):
        if not os.path.isdir(self.cwd):
            raise ShellError(ERROR_DIRECTORY, 'The directory name is invalid.')
        kwargs = {}
        if self.account.uid is not None:
            kwargs = {'user': self.account.uid, 'group': self.account.gid,
                      'extra_groups': self.account.groups}
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, cwd=self.cwd, env=self.env, bufsize=0,
                close_fds=True, start_new_session=True, **kwargs)
        except FileNotFoundError:
            raise ShellError(ERROR_FILE_NOT_FOUND, 'The system cannot find the file specified.')
        except PermissionError:
            raise ShellError(ERROR_ACCESS_DENIED, 'Access is denied.')
        except OSError as exc:
            raise ShellError(ERROR_INVALID_PARAMETER, 'The parameter is incorrect. (%s)' % exc)
        for name, pipe in (('stdout', self.proc.stdout), ('stderr', self.proc.stderr)):
            self.streams[name] = _Stream(name, pipe, output_transcoder(self.codepage))
        for target, args in ((self._read, ('stdout',)), (self._read, ('stderr',)),
                             (self._write, ()), (self._wait, ())):
            threading.Thread(target=target, args=args, daemon=True,
                             name='cmd-%s-%s' % (self.id[:8], target.__name__)).start()

    # --- threads ---------------------------------------------------------------

    def _read(self, name):
        stream = self.streams[name]
        fd = stream.pipe.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while True:
            with self.cond:
                while len(stream.buf) >= OUTPUT_BUFFER_LIMIT and not self.closed:
                    self.cond.wait()
                if self.closed:
                    break
            if not poller.poll(POLL_MS):
                if self._grace_over():
                    break
                continue
            try:
                data = os.read(fd, READ_CHUNK)
            except OSError:
                data = b''
            if not data:
                break
            if stream.transcode:
                data = stream.transcode(data)
            with self.cond:
                stream.buf += data
                self.cond.notify_all()
        tail = stream.transcode(b'', True) if stream.transcode else b''
        with self.cond:
            if not self.closed:
                stream.buf += tail
            stream.eof = True
            self.cond.notify_all()
        stream.pipe.close()

    def _grace_over(self):
        with self.cond:
            return (self.exited_at is not None
                    and time.monotonic() - self.exited_at > EOF_GRACE_SECONDS)

    def _write(self):
        pipe = self.proc.stdin
        while True:
            with self.cond:
                while not (self.stdin_queue or self.stdin_end or self.closed
                           or self.exit_code is not None):
                    self.cond.wait()
                # Nothing left to write: stdin was closed by Send, or the process is gone.
                if self.closed or not self.stdin_queue:
                    break
                chunk = self.stdin_queue.popleft()
            try:
                if not self.stdin_broken:
                    self._write_all(pipe.fileno(), chunk)
            except OSError:
                # The process closed stdin or died; later input is dropped, as Windows does.
                with self.cond:
                    self.stdin_broken = True
            with self.cond:
                self.stdin_pending -= len(chunk)
                self.cond.notify_all()
        try:
            pipe.close()
        except OSError:
            pass

    @staticmethod
    def _write_all(fd, data):
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def _wait(self):
        status = self.proc.wait()
        # A process killed by a signal gets the shell's 128+N convention.
        code = status if status >= 0 else 128 - status
        with self.cond:
            self.exit_code = code
            self.exited_at = time.monotonic()
            self.cond.notify_all()
        self.on_exit(self, code)

    # --- operations (called from request threads) ------------------------------

    def send(self, data, end, timeout):
        """Queue stdin data; end closes stdin once the queue is written.
        Raises TimeoutError if the process does not take the data in time."""
        deadline = time.monotonic() + timeout
        with self.cond:
            if self.stdin_end:
                raise ShellError(ERROR_INVALID_PARAMETER,
                                 'The parameter is incorrect. (stdin is already closed)',
                                 subcode='w:InvalidParameter', sender=True)
            while data and self.stdin_pending and \
                    self.stdin_pending + len(data) > STDIN_PENDING_LIMIT:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    raise TimeoutError()
                self.cond.wait(remaining)
            if data and not self.stdin_broken and not self.closed:
                self.stdin_queue.append(bytes(data))
                self.stdin_pending += len(data)
            if end:
                self.stdin_end = True
            self.cond.notify_all()

    def _done(self):
        return self.exit_code is not None and all(s.eof for s in self.streams.values())

    def _has_news(self, names):
        if self._done():
            return True
        for name in names:
            stream = self.streams.get(name)
            if stream and (stream.buf or (stream.eof and not stream.end_sent)):
                return True
        return False

    def receive(self, names, max_bytes, timeout):
        """Wait up to timeout for output on the named streams, then take at most
        max_bytes of it. Raises TimeoutError when nothing happened in time."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self._has_news(names):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError()
                self.cond.wait(remaining)
            budget = max_bytes
            chunks = []
            for name in names:
                stream = self.streams.get(name)
                if stream is None:
                    continue
                data = bytes(stream.buf[:budget])
                del stream.buf[:len(data)]
                budget -= len(data)
                end = stream.eof and not stream.buf and not stream.end_sent
                if end:
                    stream.end_sent = True
                if data or end:
                    chunks.append((name, data, end))
            done = self._done() and not any(
                self.streams[n].buf for n in names if n in self.streams)
            self.cond.notify_all()        # a paused reader may continue
            return ReceiveResult(chunks, done, self.exit_code if done else None)

    def signal(self, signum):
        """Deliver signum to the whole process group (the shell and its children)."""
        try:
            os.killpg(self.proc.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def terminate(self):
        self.signal(signal.SIGKILL)
        with self.cond:
            self.closed = True
            self.stdin_queue.clear()
            self.cond.notify_all()


class Shell:
    def __init__(self, shell_id, owner, account, workdir, env, codepage, noprofile,
                 idle_timeout, input_streams, output_streams, log):
        self.id = shell_id
        self.owner = owner
        self.account = account
        self.workdir = workdir
        self.env = env
        self.codepage = codepage
        self.noprofile = noprofile
        self.idle_timeout = idle_timeout
        self.input_streams = input_streams
        self.output_streams = output_streams
        self.log = log
        self.lock = threading.Lock()
        self.commands = {}
        self.created = time.monotonic()
        self.last_activity = self.created
        self.busy = 0                 # requests in progress on this shell
        self.closed = False

    def enter(self):
        with self.lock:
            self.busy += 1
            self.last_activity = time.monotonic()

    def leave(self):
        with self.lock:
            self.busy -= 1
            self.last_activity = time.monotonic()

    def idle_expired(self, now):
        with self.lock:
            return self.busy == 0 and now - self.last_activity > self.idle_timeout

    def start_command(self, command_id, command, arguments, skip_cmd_shell):
        line = ' '.join([command] + list(arguments))
        if skip_cmd_shell:
            # Windows hands the line to CreateProcess; split it the way a shell would.
            try:
                argv = shlex.split(line)
            except ValueError as exc:
                raise ShellError(ERROR_INVALID_PARAMETER, 'The parameter is incorrect. (%s)' % exc,
                                 subcode='w:InvalidParameter', sender=True)
            if not argv:
                raise ShellError(ERROR_INVALID_PARAMETER, 'The parameter is incorrect.',
                                 subcode='w:InvalidParameter', sender=True)
        else:
            argv = [SH, '-c', line]
        with self.lock:
            if self.closed:
                raise ShellError(ERROR_INVALID_PARAMETER, 'The shell is closing.')
            if len(self.commands) >= MAX_COMMANDS_PER_SHELL:
                raise QuotaError(2150858815,
                                 'The WS-Management service cannot process the request. '
                                 'The maximum number of concurrent commands per shell has '
                                 'been exceeded. Retry the request later or raise the '
                                 'Maximum Commands per Shell quota.')
            cmd = Command(command_id, argv, self.workdir, dict(self.env), self.account,
                          self.codepage, self._on_exit)
            self.commands[command_id] = cmd
        try:
            cmd.start()
        except Exception:
            with self.lock:
                self.commands.pop(command_id, None)
            raise
        return cmd

    def _on_exit(self, cmd, code):
        self.log({'event': 'command_exit', 'shell_id': self.id, 'command_id': cmd.id,
                  'exit_code': code, 'pid': cmd.proc.pid})

    def command(self, command_id):
        with self.lock:
            return self.commands.get(command_id)

    def forget_command(self, command_id):
        with self.lock:
            return self.commands.pop(command_id, None)

    def close(self):
        """Kill every process of this shell; the shell accepts no new commands."""
        with self.lock:
            self.closed = True
            commands = list(self.commands.values())
            self.commands.clear()
        for cmd in commands:
            cmd.terminate()
