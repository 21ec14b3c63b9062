"""A minimal WS-Management (WinRM cmd shell) client for the test suite.

Transport-agnostic: every call takes a transport with
    post(body: bytes) -> (http_status: int, response: bytes)
so authenticated or encrypting transports plug in unchanged. PlainHttpTransport
(HTTP or HTTPS, optional Basic auth, keep-alive) is included.

Steps:   create_shell, run, send, receive, signal, delete_shell
Whole:   run_command(transport, command, args, stdin) -> (stdout, stderr, exit_code)
Faults:  any SOAP fault raises WsmanFault(code, text) (code = WSManFault/@Code as int).
Envelope builders (build_*) return (message_id, bytes) so tests can alter them.
"""

import base64
import http.client
import ssl
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

NS = {
    's': 'http://www.w3.org/2003/05/soap-envelope',
    'a': 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
    'x': 'http://schemas.xmlsoap.org/ws/2004/09/transfer',
    'w': 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
    'p': 'http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd',
    'rsp': 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
    'f': 'http://schemas.microsoft.com/wbem/wsman/1/wsmanfault',
}
CMD_URI = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd'
SHELL_NS = NS['rsp']
ACTION_CREATE = 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Create'
ACTION_DELETE = 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete'
ACTION_COMMAND = SHELL_NS + '/Command'
ACTION_SEND = SHELL_NS + '/Send'
ACTION_RECEIVE = SHELL_NS + '/Receive'
ACTION_SIGNAL = SHELL_NS + '/Signal'
ANONYMOUS = 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous'
STATE_DONE = SHELL_NS + '/CommandState/Done'
SIGNAL_TERMINATE = SHELL_NS + '/signal/terminate'
SIGNAL_CTRL_C = SHELL_NS + '/signal/ctrl_c'
TIMED_OUT = 2150858793
SHELL_NOT_FOUND = 2150858843

DEFAULTS = {
    'to': 'http://localhost:5985/wsman',
    'max_envelope_size': 153600,
    'operation_timeout': 20,          # seconds
    'locale': 'en-US',
}
STDIN_CHUNK = 64 * 1024               # raw bytes per Send; fits the default envelope


class WsmanFault(Exception):
    """A SOAP fault (or an unexpected HTTP answer) from the server."""

    def __init__(self, code, text, subcode=None, http_status=None, response=b''):
        super().__init__('%s: %s' % (code, text))
        self.code = code              # WSManFault/@Code as int, or the HTTP status if none
        self.text = text
        self.subcode = subcode
        self.http_status = http_status
        self.response = response


# --- envelopes -----------------------------------------------------------------

def _options_xml(options):
    if not options:
        return ''
    items = ''.join('<w:Option Name=%s>%s</w:Option>' % (quoteattr(k), escape(v))
                    for k, v in options)
    return '<w:OptionSet>%s</w:OptionSet>' % items


def build_envelope(action, body_xml, shell_id=None, options=(), message_id=None, **params):
    """One request envelope. params override DEFAULTS (to, max_envelope_size,
    operation_timeout in seconds, locale). Returns (message_id, bytes)."""
    p = dict(DEFAULTS, **params)
    message_id = message_id or 'uuid:%s' % uuid.uuid4()
    selector = ''
    if shell_id is not None:
        selector = ('<w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector></w:SelectorSet>'
                    % escape(shell_id))
    text = (
        '<s:Envelope xmlns:s="{s}" xmlns:a="{a}" xmlns:w="{w}" xmlns:p="{p}" xmlns:rsp="{rsp}">'
        '<s:Header><a:To>{to}</a:To><a:ReplyTo><a:Address s:mustUnderstand="true">{anon}'
        '</a:Address></a:ReplyTo><w:MaxEnvelopeSize s:mustUnderstand="true">{maxenv}'
        '</w:MaxEnvelopeSize><a:MessageID>{mid}</a:MessageID>'
        '<w:Locale xml:lang="{loc}" s:mustUnderstand="false"/>'
        '<p:DataLocale xml:lang="{loc}" s:mustUnderstand="false"/>'
        '<w:OperationTimeout>PT{timeout}S</w:OperationTimeout>'
        '<w:ResourceURI s:mustUnderstand="true">{uri}</w:ResourceURI>'
        '<a:Action s:mustUnderstand="true">{action}</a:Action>{selector}{options}'
        '</s:Header><s:Body>{body}</s:Body></s:Envelope>'
    ).format(to=escape(p['to']), anon=ANONYMOUS, maxenv=int(p['max_envelope_size']),
             mid=escape(message_id), loc=escape(p['locale']),
             timeout=_seconds(p['operation_timeout']), uri=CMD_URI, action=escape(action),
             selector=selector, options=_options_xml(options), body=body_xml, **NS)
    return message_id, text.encode('utf-8')


def _seconds(value):
    return ('%.3f' % value).rstrip('0').rstrip('.') if isinstance(value, float) else str(value)


def build_create(codepage=65001, noprofile=False, workdir=None, env=None, idle_timeout=None,
                 **params):
    parts = ['<rsp:InputStreams>stdin</rsp:InputStreams>',
             '<rsp:OutputStreams>stdout stderr</rsp:OutputStreams>']
    if workdir:
        parts.append('<rsp:WorkingDirectory>%s</rsp:WorkingDirectory>' % escape(workdir))
    if idle_timeout is not None:
        parts.append('<rsp:IdleTimeOut>PT%sS</rsp:IdleTimeOut>' % _seconds(idle_timeout))
    if env:
        parts.append('<rsp:Environment>%s</rsp:Environment>' % ''.join(
            '<rsp:Variable Name=%s>%s</rsp:Variable>' % (quoteattr(k), escape(v))
            for k, v in env.items()))
    options = [('WINRS_NOPROFILE', 'TRUE' if noprofile else 'FALSE'),
               ('WINRS_CODEPAGE', str(codepage))]
    return build_envelope(ACTION_CREATE, '<rsp:Shell>%s</rsp:Shell>' % ''.join(parts),
                          options=options, **params)


def build_command(shell_id, command, args=(), skip_cmd_shell=False, console_mode_stdin=True,
                  **params):
    args_xml = ''.join('<rsp:Arguments>%s</rsp:Arguments>' % escape(a) for a in args)
    body = '<rsp:CommandLine><rsp:Command>%s</rsp:Command>%s</rsp:CommandLine>' % (
        escape(command), args_xml)
    options = [('WINRS_CONSOLEMODE_STDIN', 'TRUE' if console_mode_stdin else 'FALSE'),
               ('WINRS_SKIP_CMD_SHELL', 'TRUE' if skip_cmd_shell else 'FALSE')]
    return build_envelope(ACTION_COMMAND, body, shell_id=shell_id, options=options, **params)


def build_send(shell_id, command_id, data, end=False, **params):
    body = '<rsp:Send><rsp:Stream Name="stdin" CommandId=%s%s>%s</rsp:Stream></rsp:Send>' % (
        quoteattr(command_id), ' End="true"' if end else '',
        base64.b64encode(data).decode('ascii'))
    return build_envelope(ACTION_SEND, body, shell_id=shell_id, **params)


def build_receive(shell_id, command_id, streams='stdout stderr', **params):
    body = ('<rsp:Receive><rsp:DesiredStream CommandId=%s>%s</rsp:DesiredStream></rsp:Receive>'
            % (quoteattr(command_id), escape(streams)))
    return build_envelope(ACTION_RECEIVE, body, shell_id=shell_id, **params)


def build_signal(shell_id, command_id, code=SIGNAL_TERMINATE, **params):
    if '/' not in code:
        code = SHELL_NS + '/signal/' + code
    body = '<rsp:Signal CommandId=%s><rsp:Code>%s</rsp:Code></rsp:Signal>' % (
        quoteattr(command_id), escape(code))
    return build_envelope(ACTION_SIGNAL, body, shell_id=shell_id, **params)


def build_delete(shell_id, **params):
    return build_envelope(ACTION_DELETE, '', shell_id=shell_id, **params)


# --- responses -----------------------------------------------------------------

def parse_fault(status, response):
    """A WsmanFault for a non-200 answer."""
    try:
        root = ET.fromstring(response)
    except ET.ParseError:
        return WsmanFault(status, 'HTTP %d with no SOAP body' % status, http_status=status,
                          response=response)
    fault = root.find('s:Body/s:Fault', NS)
    if fault is None:
        return WsmanFault(status, 'HTTP %d without a SOAP fault' % status, http_status=status,
                          response=response)
    detail = fault.find('s:Detail/f:WSManFault', NS)
    code = int(detail.get('Code')) if detail is not None and detail.get('Code') else status
    message = detail.findtext('f:Message', default='', namespaces=NS) if detail is not None else ''
    reason = fault.findtext('s:Reason/s:Text', default='', namespaces=NS)
    subcode = fault.findtext('s:Code/s:Subcode/s:Value', default=None, namespaces=NS)
    return WsmanFault(code, (message or reason).strip(), subcode=subcode, http_status=status,
                      response=response)


def call(transport, request, expect_action=None):
    """Post a (message_id, body) request; return the parsed response root.
    Raises WsmanFault on a fault and checks RelatesTo and the response action."""
    message_id, body = request
    status, response = transport.post(body)
    if status != 200:
        raise parse_fault(status, response)
    root = ET.fromstring(response)
    relates = root.findtext('s:Header/a:RelatesTo', default=None, namespaces=NS)
    if relates != message_id:
        raise WsmanFault(None, 'RelatesTo %r does not match MessageID %r' % (relates, message_id))
    if expect_action:
        action = root.findtext('s:Header/a:Action', default=None, namespaces=NS)
        if action != expect_action:
            raise WsmanFault(None, 'response action %r, expected %r' % (action, expect_action))
    return root


# --- steps ---------------------------------------------------------------------

def create_shell(transport, **kw):
    root = call(transport, build_create(**kw), ACTION_CREATE + 'Response')
    selector = root.find(".//w:Selector[@Name='ShellId']", NS)
    if selector is None or not selector.text:
        raise WsmanFault(None, 'CreateResponse has no ShellId selector')
    return selector.text


def run(transport, shell_id, command, args=(), **kw):
    root = call(transport, build_command(shell_id, command, args, **kw),
                ACTION_COMMAND + 'Response')
    return root.findtext('s:Body/rsp:CommandResponse/rsp:CommandId', namespaces=NS)


def send(transport, shell_id, command_id, data, end=False, **kw):
    call(transport, build_send(shell_id, command_id, data, end, **kw), ACTION_SEND + 'Response')


def receive(transport, shell_id, command_id, streams='stdout stderr', **kw):
    """One Receive. Returns (stdout, stderr, done, exit_code); raises WsmanFault with
    code TIMED_OUT when the server had nothing within OperationTimeout."""
    root = call(transport, build_receive(shell_id, command_id, streams, **kw),
                ACTION_RECEIVE + 'Response')
    out = {'stdout': b'', 'stderr': b''}
    for stream in root.findall('s:Body/rsp:ReceiveResponse/rsp:Stream', NS):
        name = stream.get('Name')
        out[name] = out.get(name, b'') + base64.b64decode(stream.text or '')
    state = root.find('s:Body/rsp:ReceiveResponse/rsp:CommandState', NS)
    done = state is not None and state.get('State') == STATE_DONE
    exit_code = None
    if done:
        exit_code = int(state.findtext('rsp:ExitCode', default='0', namespaces=NS))
    return out['stdout'], out['stderr'], done, exit_code


def signal(transport, shell_id, command_id, code=SIGNAL_TERMINATE, **kw):
    call(transport, build_signal(shell_id, command_id, code, **kw), ACTION_SIGNAL + 'Response')


def delete_shell(transport, shell_id, **kw):
    call(transport, build_delete(shell_id, **kw), ACTION_DELETE + 'Response')


def collect(transport, shell_id, command_id, deadline=None, **kw):
    """Receive until Done, retrying after TimedOut faults as real clients do."""
    stdout, stderr = [], []
    while True:
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError('command %s did not finish in time' % command_id)
        try:
            out, err, done, code = receive(transport, shell_id, command_id, **kw)
        except WsmanFault as fault:
            if fault.code == TIMED_OUT:
                continue
            raise
        stdout.append(out)
        stderr.append(err)
        if done:
            return b''.join(stdout), b''.join(stderr), code


def run_command(transport, command, args=(), stdin=b'', timeout=None, shell_options=None,
                command_options=None, **params):
    """Create a shell, run one command, feed stdin (then close it; stdin=None leaves it
    open), collect the output, clean up. Returns (stdout, stderr, exit_code).
    shell_options go to build_create, command_options to build_command, params
    (to, operation_timeout, max_envelope_size, locale) to every envelope."""
    shell_id = create_shell(transport, **dict(shell_options or {}, **params))
    try:
        command_id = run(transport, shell_id, command, args,
                         **dict(command_options or {}, **params))
        if stdin is not None:
            for i in range(0, max(len(stdin), 1), STDIN_CHUNK):
                send(transport, shell_id, command_id, stdin[i:i + STDIN_CHUNK],
                     end=i + STDIN_CHUNK >= len(stdin), **params)
        deadline = time.monotonic() + timeout if timeout else None
        result = collect(transport, shell_id, command_id, deadline, **params)
        signal(transport, shell_id, command_id, SIGNAL_TERMINATE, **params)
        return result
    finally:
        delete_shell(transport, shell_id, **params)


# --- transport -----------------------------------------------------------------

class PlainHttpTransport:
    """HTTP(S) POSTs on one keep-alive connection, with optional Basic auth.

    url: http(s)://host:port/wsman. basic: (user, password) or None. headers: extra
    request headers. cafile / certfile+keyfile / verify for HTTPS. timeout: socket
    read timeout, which must exceed the OperationTimeout used."""

    def __init__(self, url, basic=None, headers=None, cafile=None, certfile=None,
                 keyfile=None, verify=True, timeout=60):
        parts = urllib.parse.urlsplit(url)
        self.https = parts.scheme == 'https'
        self.host = parts.hostname
        self.port = parts.port or (5986 if self.https else 5985)
        self.path = parts.path or '/wsman'
        self.timeout = timeout
        self.headers = {'Content-Type': 'application/soap+xml;charset=UTF-8'}
        if basic:
            token = base64.b64encode(('%s:%s' % basic).encode('utf-8')).decode('ascii')
            self.headers['Authorization'] = 'Basic ' + token
        self.headers.update(headers or {})
        self.context = None
        if self.https:
            self.context = ssl.create_default_context(cafile=cafile)
            if not verify:
                self.context.check_hostname = False
                self.context.verify_mode = ssl.CERT_NONE
            if certfile:
                self.context.load_cert_chain(certfile, keyfile)
        self.conn = None
        self.last_headers = None      # headers of the last response, for tests

    def _connect(self):
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                               context=self.context)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def post(self, body):
        reused = self.conn is not None
        if self.conn is None:
            self.conn = self._connect()
        try:
            return self._post_once(body)
        except TimeoutError:
            self.close()
            raise
        except (http.client.HTTPException, OSError):
            self.close()
            if not reused:
                raise
            # The server closed an idle keep-alive connection; retry once on a new one.
            self.conn = self._connect()
            return self._post_once(body)

    def _post_once(self, body):
        self.conn.request('POST', self.path, body=body, headers=self.headers)
        resp = self.conn.getresponse()
        data = resp.read()
        self.last_headers = resp.headers
        if resp.will_close:
            self.close()
        return resp.status, data

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
