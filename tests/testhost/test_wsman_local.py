#!/usr/bin/python3
"""Self-test of wsman.py / shell.py without HTTP: WsmanService.handle() is driven
directly, through wsclient envelopes and through Debian's pywinrm 0.3.0 Protocol,
and responses are also checked with the XPath expressions masterzen/winrm uses.

Run: /usr/bin/python3 tests/testhost/test_wsman_local.py
"""

import base64
import hashlib
import os
import re
import signal
import sys
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(os.path.dirname(HERE), 'clients')]

import shell  # noqa: E402
import wsclient  # noqa: E402
import wsman  # noqa: E402
from wsclient import NS, WsmanFault  # noqa: E402

IDENTITY = 'alice@WINRM.TEST'
FAST = {'operation_timeout': 2}


class InProcessTransport:
    """wsclient transport that calls the service directly."""

    def __init__(self, service, identity=IDENTITY):
        self.service = service
        self.identity = identity
        self.last = None

    def post(self, body):
        self.last = self.service.handle(body, self.identity)
        return self.last


class ServiceTest(unittest.TestCase):
    config = {}

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='wsman-test-')
        self.logs = []
        cfg = {'run_as': None, 'workdir': self.tmp, 'max_envelope_size': 153600,
               'max_shells': 30}
        cfg.update(self.config)
        self.svc = wsman.WsmanService(cfg, self.logs.append)
        self.t = InProcessTransport(self.svc)

    def tearDown(self):
        self.svc.shutdown()

    def shell(self, **kw):
        return wsclient.create_shell(self.t, **dict(FAST, **kw))

    def start(self, command, args=(), **kw):
        sid = self.shell()
        cid = wsclient.run(self.t, sid, command, args, **dict(FAST, **kw))
        return sid, cid

    def fault(self, request):
        with self.assertRaises(WsmanFault) as ctx:
            wsclient.call(self.t, request)
        return ctx.exception

    def pid_of(self, command_id):
        return next(e['pid'] for e in self.logs
                    if e['event'] == 'command_started' and e['command_id'] == command_id)

    @staticmethod
    def wait_for(probe, seconds=5):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError('condition not met in %s s' % seconds)

    def wait_gone(self, pid, seconds=5):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
        return False


class Basics(ServiceTest):
    def test_echo_with_arguments(self):
        out, err, code = wsclient.run_command(self.t, 'echo', ['hello', 'world'], **FAST)
        self.assertEqual((out, err, code), (b'hello world\n', b'', 0))

    def test_exit_code_and_stderr(self):
        out, err, code = wsclient.run_command(self.t, 'echo out; echo oops >&2; exit 42', **FAST)
        self.assertEqual((out, err, code), (b'out\n', b'oops\n', 42))

    def test_stdin_with_end(self):
        sid, cid = self.start('cat; echo done')
        wsclient.send(self.t, sid, cid, b'first ', **FAST)
        wsclient.send(self.t, sid, cid, b'second', end=True, **FAST)
        out, err, code = wsclient.collect(self.t, sid, cid, **FAST)
        self.assertEqual((out, code), (b'first seconddone\n', 0))

    def test_large_stdin(self):
        data = os.urandom(3 * 1024 * 1024)
        out, _, code = wsclient.run_command(self.t, 'sha256sum', stdin=data, **FAST)
        self.assertEqual(out.split()[0].decode(), hashlib.sha256(data).hexdigest())

    def test_output_arrives_before_exit(self):
        sid, cid = self.start('echo one; sleep 1.5; echo two')
        t0 = time.monotonic()
        out, _, done, _ = wsclient.receive(self.t, sid, cid, **FAST)
        self.assertEqual(out, b'one\n')
        self.assertFalse(done)
        self.assertLess(time.monotonic() - t0, 1.0)
        out, _, code = wsclient.collect(self.t, sid, cid, **FAST)
        self.assertEqual((out, code), (b'two\n', 0))

    def test_timed_out_fault(self):
        sid, cid = self.start('sleep 5')
        t0 = time.monotonic()
        with self.assertRaises(WsmanFault) as ctx:
            wsclient.receive(self.t, sid, cid, operation_timeout=0.5)
        elapsed = time.monotonic() - t0
        self.assertEqual(ctx.exception.code, 2150858793)
        self.assertEqual(ctx.exception.subcode, 'w:TimedOut')
        self.assertEqual(self.t.last[0], 500)
        # masterzen/winrm recognises the timeout only by this word in the body.
        self.assertIn(b'OperationTimeout', self.t.last[1])
        self.assertTrue(0.4 < elapsed < 2.0, elapsed)
        wsclient.signal(self.t, sid, cid, 'terminate', **FAST)

    def test_ctrl_c(self):
        sid, cid = self.start('trap "echo got-int; exit 7" INT; echo ready; '
                              'while :; do sleep 0.1; done')
        out, _, _, _ = wsclient.receive(self.t, sid, cid, **FAST)
        self.assertEqual(out, b'ready\n')
        wsclient.signal(self.t, sid, cid, 'ctrl_c', **FAST)
        out, _, code = wsclient.collect(self.t, sid, cid, deadline=time.monotonic() + 10, **FAST)
        self.assertEqual((out, code), (b'got-int\n', 7))
        self.assertIn({'event': 'signal', 'shell_id': sid, 'command_id': cid, 'code': 'ctrl_c'},
                      self.logs)

    def test_terminate_kills_process_group(self):
        sid, cid = self.start('sleep 60 & sleep 60; echo never')
        pid = self.pid_of(cid)
        wsclient.signal(self.t, sid, cid, 'terminate', **FAST)
        self.assertTrue(self.wait_gone(pid))
        # The command is gone afterwards.
        fault = self.fault(wsclient.build_receive(sid, cid, **FAST))
        self.assertEqual(fault.code, 87)
        exit_event = self.wait_for(lambda: next(
            (e for e in self.logs if e['event'] == 'command_exit' and e['command_id'] == cid),
            None))
        self.assertEqual(exit_event['exit_code'], 128 + signal.SIGKILL)

    def test_working_directory_and_environment(self):
        workdir = os.path.join(self.tmp, 'sub dir')
        os.mkdir(workdir)
        out, _, code = wsclient.run_command(
            self.t, 'pwd; echo "$FOO|$BAR"',
            shell_options={'workdir': workdir, 'env': {'FOO': 'a&b<c', 'BAR': 'x y'}}, **FAST)
        self.assertEqual(out, (workdir + '\na&b<c|x y\n').encode())

    def test_default_workdir_from_config(self):
        out, _, _ = wsclient.run_command(self.t, 'pwd', **FAST)
        self.assertEqual(out, (self.tmp + '\n').encode())

    def test_bad_working_directory(self):
        sid = self.shell(workdir='/nonexistent/dir')
        fault = self.fault(wsclient.build_command(sid, 'echo', **FAST))
        self.assertEqual((fault.code, fault.subcode), (267, 'w:InternalError'))

    def test_codepages(self):
        out, _, _ = wsclient.run_command(self.t, 'printf "h\\303\\251\\n"',
                                         shell_options={'codepage': 65001}, **FAST)
        self.assertEqual(out, 'hé\n'.encode('utf-8'))
        out, _, _ = wsclient.run_command(self.t, 'printf "h\\303\\251\\n"',
                                         shell_options={'codepage': 437}, **FAST)
        self.assertEqual(out, 'hé\n'.encode('cp437'))
        create = next(e for e in reversed(self.logs) if e['event'] == 'shell_create')
        self.assertEqual(create['codepage'], 437)

    def test_skip_cmd_shell(self):
        out, _, code = wsclient.run_command(
            self.t, 'printf', ['%s-', "'a b'", 'c'],
            command_options={'skip_cmd_shell': True}, **FAST)
        self.assertEqual((out, code), (b'a b-c-', 0))
        cmd = next(e for e in reversed(self.logs) if e['event'] == 'command')
        self.assertTrue(cmd['skip_cmd_shell'])
        self.assertEqual(cmd['arguments'], ['%s-', "'a b'", 'c'])

    def test_several_commands_in_one_shell(self):
        sid = self.shell()
        for i in range(3):
            cid = wsclient.run(self.t, sid, 'echo %d' % i, **FAST)
            wsclient.send(self.t, sid, cid, b'', end=True, **FAST)
            out, _, code = wsclient.collect(self.t, sid, cid, **FAST)
            self.assertEqual(out, b'%d\n' % i)
            wsclient.signal(self.t, sid, cid, **FAST)
        wsclient.delete_shell(self.t, sid, **FAST)

    def test_concurrent_clients(self):
        results = []

        def worker(n):
            t = InProcessTransport(self.svc, identity='user%d' % n)
            results.append(wsclient.run_command(t, 'sleep 0.3; echo %d' % n, **FAST))
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        self.assertEqual(sorted(r[0] for r in results),
                         sorted(b'%d\n' % n for n in range(12)))

    def test_background_child_does_not_hold_done(self):
        # The child keeps the pipes open; Done follows the main process after a grace.
        sid, cid = self.start('sleep 30 & echo hi')
        t0 = time.monotonic()
        out, _, code = wsclient.collect(self.t, sid, cid, **FAST)
        self.assertEqual((out, code), (b'hi\n', 0))
        self.assertLess(time.monotonic() - t0, shell.EOF_GRACE_SECONDS + 2)

    def test_threads_end_with_the_command(self):
        before = threading.active_count()
        sid, cid = self.start('echo x')       # stdin never closed by the client
        wsclient.collect(self.t, sid, cid, **FAST)
        deadline = time.monotonic() + 10  # generous: a loaded CI machine
        while threading.active_count() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(threading.active_count(), before)

    @unittest.skipUnless(os.geteuid() == 0, 'run_as needs root')
    def test_run_as(self):
        self.svc.config['run_as'] = 'nobody'
        out, _, code = wsclient.run_command(self.t, 'id -un; echo $HOME', **FAST)
        self.assertEqual(out.split()[0], b'nobody')
        create = next(e for e in reversed(self.logs) if e['event'] == 'shell_create')
        self.assertEqual(create['run_as'], 'nobody')

    def test_empty_post_is_accepted(self):
        self.assertEqual(self.svc.handle(b'', IDENTITY), (200, b''))

    def test_shutdown_kills_everything(self):
        sid, cid = self.start('sleep 60')
        pid = self.pid_of(cid)
        self.svc.shutdown()
        self.assertTrue(self.wait_gone(pid))
        fault = self.fault(wsclient.build_receive(sid, cid, **FAST))
        self.assertEqual(fault.code, 2150858843)


class Limits(ServiceTest):
    config = {'max_envelope_size': 20000, 'max_shells': 2}

    def test_receive_respects_max_envelope(self):
        sid, cid = self.start('head -c 300000 /dev/zero')
        total = 0
        sizes = []
        while True:
            req = wsclient.build_receive(sid, cid, **FAST)
            status, body = self.t.post(req[1])
            self.assertEqual(status, 200)
            sizes.append(len(body))
            out, done = self._parse(body)
            total += len(out)
            if done:
                break
        self.assertEqual(total, 300000)
        self.assertLessEqual(max(sizes), 20000)
        self.assertGreater(len(sizes), 10)

    @staticmethod
    def _parse(body):
        root = ET.fromstring(body)
        out = b''.join(base64.b64decode(s.text or '')
                       for s in root.findall(".//rsp:Stream[@Name='stdout']", NS))
        done = root.find('.//rsp:CommandState', NS).get('State') == wsclient.STATE_DONE
        return out, done

    def test_back_pressure(self):
        sid, cid = self.start('head -c 6000000 /dev/zero; echo end >&2')
        time.sleep(1.0)
        cmd = self.svc._shells[sid].command(cid)
        buffered = len(cmd.streams['stdout'].buf)
        self.assertLessEqual(buffered, shell.OUTPUT_BUFFER_LIMIT + shell.READ_CHUNK)
        self.assertIsNone(cmd.exit_code)        # blocked on the full pipe
        out, err, code = wsclient.collect(self.t, sid, cid, **FAST)
        self.assertEqual((len(out), err, code), (6000000, b'end\n', 0))

    def test_oversize_request_gets_413(self):
        sid = self.shell()
        mid, body = wsclient.build_command(sid, 'echo ' + 'x' * 30000, **FAST)
        self.assertEqual(self.svc.handle(body, IDENTITY), (413, b''))
        self.assertEqual(self.logs[-1]['event'], 'fault')

    def test_small_max_envelope_is_encoding_limit(self):
        fault = self.fault(wsclient.build_create(max_envelope_size=4096, **FAST))
        self.assertEqual((fault.code, fault.subcode), (2150858805, 'w:EncodingLimit'))

    def test_shell_quota(self):
        self.shell()
        self.shell()
        fault = self.fault(wsclient.build_create(**FAST))
        self.assertEqual((fault.code, fault.subcode), (2150859173, 'w:QuotaLimit'))
        self.assertIn('maximum number of 2 concurrent shells', fault.text)
        # Another user has a quota of their own.
        other = InProcessTransport(self.svc, identity='bob')
        wsclient.create_shell(other, **FAST)


class Faults(ServiceTest):
    def check_envelope(self, body, request_id, action):
        root = ET.fromstring(body)
        header = root.find('s:Header', NS)
        self.assertEqual(header.findtext('a:RelatesTo', namespaces=NS), request_id)
        self.assertEqual(header.findtext('a:Action', namespaces=NS), action)
        self.assertEqual(header.findtext('a:To', namespaces=NS), wsclient.ANONYMOUS)
        mid = header.findtext('a:MessageID', namespaces=NS)
        self.assertRegex(mid, r'^uuid:[0-9A-F-]{36}$')
        self.assertNotEqual(mid, request_id)
        return root

    def test_relates_to_on_every_response(self):
        mid, body = wsclient.build_create(**FAST)
        status, resp = self.t.post(body)
        root = self.check_envelope(resp, mid, wsclient.ACTION_CREATE + 'Response')
        sid = root.find('.//w:Selector[@Name="ShellId"]', NS).text
        self.assertEqual(root.findtext('.//rsp:Shell/rsp:ShellId', namespaces=NS), sid)
        mid, body = wsclient.build_command(sid, 'echo hi', **FAST)
        root = self.check_envelope(self.t.post(body)[1], mid, wsclient.ACTION_COMMAND + 'Response')
        cid = root.findtext('.//rsp:CommandId', namespaces=NS)
        steps = [
            (wsclient.build_send(sid, cid, b'', end=True, **FAST), wsclient.ACTION_SEND),
            (wsclient.build_receive(sid, cid, **FAST), wsclient.ACTION_RECEIVE),
            (wsclient.build_signal(sid, cid, **FAST), wsclient.ACTION_SIGNAL),
            (wsclient.build_delete(sid, **FAST), wsclient.ACTION_DELETE),
        ]
        for (mid, body), action in steps:
            status, resp = self.t.post(body)
            self.assertEqual(status, 200)
            self.check_envelope(resp, mid, action + 'Response')
        # Faults carry RelatesTo too.
        mid, body = wsclient.build_delete(sid, **FAST)
        status, resp = self.t.post(body)
        self.assertEqual(status, 500)
        self.check_envelope(resp, mid, 'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault')

    def test_unknown_shell(self):
        fake = '11111111-2222-3333-4444-555555555555'
        fault = self.fault(wsclient.build_receive(fake, fake, **FAST))
        self.assertEqual((fault.code, fault.subcode), (2150858843, 'w:InvalidSelectors'))
        self.assertIn('The request for the Windows Remote Shell with ShellId %s failed because '
                      'the shell was not found on the server' % fake, fault.text)
        self.assertIn(b'faultDetail/UnexpectedSelectors', fault.response)
        self.assertEqual(self.logs[-1]['event'], 'fault')
        self.assertEqual(self.logs[-1]['code'], 2150858843)

    def test_other_users_shell_is_not_found(self):
        sid = self.shell()
        bob = InProcessTransport(self.svc, identity='bob')
        with self.assertRaises(WsmanFault) as ctx:
            wsclient.delete_shell(bob, sid, **FAST)
        self.assertEqual(ctx.exception.code, 2150858843)

    def test_malformed_xml(self):
        for body in (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>',
                     b'not xml at all', b'\xff\xfe\x00garbage'):
            status, resp = self.svc.handle(body, IDENTITY)
            self.assertEqual(status, 500)
            fault = wsclient.parse_fault(status, resp)
            self.assertEqual((fault.code, fault.subcode), (2150858817, 'w:SchemaValidationError'))

    def test_doctype_and_entities_refused(self):
        mid, body = wsclient.build_create(**FAST)
        bomb = (b'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY a "aaaaaaaaaa">'
                b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>') + body.replace(
                    b'<rsp:InputStreams>stdin', b'<rsp:InputStreams>&b;', 1)
        status, resp = self.svc.handle(bomb, IDENTITY)
        self.assertEqual(status, 500)
        self.assertEqual(wsclient.parse_fault(status, resp).code, 2150858817)
        xxe = (b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>') + body
        self.assertEqual(wsclient.parse_fault(*self.svc.handle(xxe, IDENTITY)).code, 2150858817)

    def test_missing_required_elements(self):
        sid = self.shell()
        request = wsclient.build_envelope(wsclient.ACTION_COMMAND, '', shell_id=sid, **FAST)
        fault = self.fault(request)
        self.assertEqual((fault.code, fault.subcode), (2150858817, 'w:SchemaValidationError'))
        request = wsclient.build_envelope(wsclient.ACTION_CREATE, '', **FAST)
        self.assertEqual(self.fault(request).code, 2150858817)
        mid, body = wsclient.build_create(**FAST)
        body = re.sub(rb'<a:MessageID>.*?</a:MessageID>', b'', body)
        fault = wsclient.parse_fault(*self.svc.handle(body, IDENTITY))
        self.assertEqual((fault.code, fault.subcode),
                         (2150858769, 'a:MessageInformationHeaderRequired'))

    def test_empty_command_is_invalid_parameter(self):
        sid = self.shell()
        fault = self.fault(wsclient.build_command(sid, '  ', **FAST))
        self.assertEqual((fault.code, fault.subcode), (87, 'w:InvalidParameter'))

    def test_unknown_action(self):
        fault = self.fault(wsclient.build_envelope(
            'http://schemas.xmlsoap.org/ws/2004/09/transfer/Get', '', **FAST))
        self.assertEqual((fault.code, fault.subcode), (2150858771, 'a:ActionNotSupported'))
        self.assertIn(b'http://schemas.xmlsoap.org/ws/2004/08/addressing/fault', fault.response)

    def test_bad_operation_timeout(self):
        mid, body = wsclient.build_create(**FAST)
        body = body.replace(b'PT2S', b'PTxS')
        fault = wsclient.parse_fault(*self.svc.handle(body, IDENTITY))
        self.assertEqual(fault.subcode, 'a:InvalidMessageInformationHeader')

    def test_idle_timeout_reaps_shell(self):
        sid = self.shell(idle_timeout=1)
        cid = wsclient.run(self.t, sid, 'sleep 60', **FAST)
        pid = self.pid_of(cid)
        time.sleep(2.5)
        fault = self.fault(wsclient.build_receive(sid, cid, **FAST))
        self.assertEqual(fault.code, 2150858843)
        self.assertTrue(self.wait_gone(pid))
        self.wait_for(lambda: any(e['event'] == 'shell_delete' and e['reason'] == 'idle_timeout'
                                  for e in self.logs))

    def test_go_style_cdata_arguments(self):
        # masterzen/winrm wraps Command and each Arguments in CDATA.
        sid = self.shell()
        mid, body = wsclient.build_command(sid, 'X', ['Y', 'Z'], **FAST)
        body = body.replace(b'<rsp:Command>X</rsp:Command>',
                            b'<rsp:Command><![CDATA[echo "a&b<c"]]></rsp:Command>')
        body = body.replace(b'>Y<', b'><![CDATA[| tr a A]]><').replace(b'>Z<', b'><![CDATA[]]><')
        root = wsclient.call(self.t, (mid, body))
        cid = root.findtext('.//rsp:CommandId', namespaces=NS)
        cmd = next(e for e in reversed(self.logs) if e['event'] == 'command')
        self.assertEqual(cmd['command'], 'echo "a&b<c"')
        self.assertEqual(cmd['arguments'], ['| tr a A', ''])
        out, _, code = wsclient.collect(self.t, sid, cid, **FAST)
        self.assertEqual((out, code), (b'A&b<c\n', 0))


class WithPywinrm(ServiceTest):
    """Debian's pywinrm 0.3.0 Protocol over a fake transport that calls handle()."""

    def setUp(self):
        super().setUp()
        from winrm.exceptions import WinRMTransportError
        from winrm.protocol import Protocol
        svc = self.svc

        class FakeTransport:
            def send_message(self, message):
                if isinstance(message, str):
                    message = message.encode('utf-8')
                status, resp = svc.handle(message, IDENTITY)
                if status != 200:
                    raise WinRMTransportError('http', status, resp)
                return resp
        self.p = Protocol('http://localhost:5985/wsman', transport='plaintext', username='alice',
                          password='x', operation_timeout_sec=1, read_timeout_sec=2)
        self.p.transport = FakeTransport()

    def test_run_cmd_cycle(self):
        sid = self.p.open_shell(working_directory=self.tmp, env_vars={'FOO': 'bar'})
        cid = self.p.run_command(sid, 'echo $FOO; pwd; echo e >&2; exit', ['3'])
        out, err, code = self.p.get_command_output(sid, cid)
        self.assertEqual((out, err, code), (('bar\n%s\n' % self.tmp).encode(), b'e\n', 3))
        self.p.cleanup_command(sid, cid)        # asserts RelatesTo
        self.p.close_shell(sid)                 # asserts RelatesTo

    def test_timeouts_are_retried(self):
        # operation_timeout_sec=1: the first Receive ends in the TimedOut fault, which
        # pywinrm turns into WinRMOperationTimeoutError and retries.
        from winrm.exceptions import WinRMOperationTimeoutError
        sid = self.p.open_shell()
        cid = self.p.run_command(sid, 'sleep 1.5; echo late')
        with self.assertRaises(WinRMOperationTimeoutError):
            self.p._raw_get_command_output(sid, cid)
        self.assertEqual(self.p.get_command_output(sid, cid), (b'late\n', b'', 0))
        self.p.close_shell(sid)

    def test_unknown_shell_fault_data(self):
        from winrm.exceptions import WinRMError
        with self.assertRaises(WinRMError) as ctx:
            self.p.close_shell('11111111-2222-3333-4444-555555555555')
        self.assertIn("'wsmanfault_code': '2150858843'", str(ctx.exception))
        self.assertIn("'fault_subcode': 'w:InvalidSelectors'", str(ctx.exception))


class GoParsing(ServiceTest):
    """The XPath queries of masterzen/winrm response.go, evaluated with ElementTree."""

    def test_response_shapes(self):
        mid, body = wsclient.build_create(**FAST)
        create = ET.fromstring(self.t.post(body)[1])
        # ParseOpenShellResponse: //w:Selector[@Name='ShellId']
        sid = create.find(".//w:Selector[@Name='ShellId']", NS).text
        mid, body = wsclient.build_command(sid, 'printf out; printf err >&2; exit 5', **FAST)
        # ParseExecuteCommandResponse: //rsp:CommandId
        cid = ET.fromstring(self.t.post(body)[1]).find('.//rsp:CommandId', NS).text
        # Go's Close of stdin: an empty Stream with End="true".
        self.t.post(wsclient.build_send(sid, cid, b'', end=True, **FAST)[1])
        out = err = b''
        ends = []
        for _ in range(50):
            root = ET.fromstring(self.t.post(wsclient.build_receive(sid, cid, **FAST)[1])[1])
            # ParseSlurpOutputErrResponse: //rsp:Stream[@Name='stdout'] etc.
            out += b''.join(base64.b64decode(n.text or '')
                            for n in root.findall(".//rsp:Stream[@Name='stdout']", NS))
            err += b''.join(base64.b64decode(n.text or '')
                            for n in root.findall(".//rsp:Stream[@Name='stderr']", NS))
            ends += [n.get('Name') for n in root.findall('.//rsp:Stream', NS)
                     if n.get('End') == 'true']
            if root.findall(".//*[@State='%s']" % wsclient.STATE_DONE):
                break
        self.assertEqual((out, err), (b'out', b'err'))
        self.assertEqual(root.find('.//rsp:ExitCode', NS).text, '5')
        self.assertEqual(sorted(ends), ['stderr', 'stdout'])    # End="true" once per stream


if __name__ == '__main__':
    unittest.main(verbosity=2)
