"""WS-Management remote shell service (the cmd resource URI), as Windows answers it.

handle() takes one plaintext SOAP request and returns (http_status, response). It
parses with xml.etree after refusing DTDs, validates what MS-WSMV requires, and
dispatches to Create / Delete / Command / Send / Receive / Signal. Faults go back as
HTTP 500 with a SOAP 1.2 Fault and a WSManFault detail, shaped like the ones
Windows sends (see FAULTS below for where each code comes from).

Processes live in shell.py; this module only speaks SOAP.
"""

import base64
import re
import socket
import threading
import time
import traceback
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

try:
    from . import shell as shellmod
except ImportError:                   # loaded as a top-level module next to shell.py
    import shell as shellmod

ShellError = shellmod.ShellError

NS = {
    's': 'http://www.w3.org/2003/05/soap-envelope',
    'a': 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
    'x': 'http://schemas.xmlsoap.org/ws/2004/09/transfer',
    'w': 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
    'p': 'http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd',
    'rsp': 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
    'f': 'http://schemas.microsoft.com/wbem/wsman/1/wsmanfault',
}
ANONYMOUS = 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous'
CMD_URI = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd'
SHELL_NS = NS['rsp']
TRANSFER = 'http://schemas.xmlsoap.org/ws/2004/09/transfer'
ACTION_CREATE = TRANSFER + '/Create'
ACTION_DELETE = TRANSFER + '/Delete'
ACTION_COMMAND = SHELL_NS + '/Command'
ACTION_SEND = SHELL_NS + '/Send'
ACTION_RECEIVE = SHELL_NS + '/Receive'
ACTION_SIGNAL = SHELL_NS + '/Signal'
STATE_RUNNING = SHELL_NS + '/CommandState/Running'
STATE_DONE = SHELL_NS + '/CommandState/Done'
SIGNALS = {
    SHELL_NS + '/signal/ctrl_c': ('ctrl_c', shellmod.signal.SIGINT),
    SHELL_NS + '/signal/ctrl_break': ('ctrl_break', shellmod.signal.SIGINT),
    SHELL_NS + '/signal/terminate': ('terminate', None),
}
WSMAN_FAULT_ACTION = 'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault'
ADDRESSING_FAULT_ACTION = 'http://schemas.xmlsoap.org/ws/2004/08/addressing/fault'

DEFAULT_MAX_ENVELOPE = 153600
MIN_ENVELOPE = 8192                 # MS-WSMV 3.1.4.1.7: smaller => wsman:EncodingLimit
DEFAULT_OPERATION_TIMEOUT = 60.0    # Windows MaxTimeoutms default
MAX_OPERATION_TIMEOUT = 600.0       # a request thread never blocks longer than this
DEFAULT_IDLE_TIMEOUT = 7200.0       # Windows winrs IdleTimeout default (ms 7200000)
MIN_IDLE_TIMEOUT = 1.0              # Windows says 60 s; tests need shorter
MAX_IDLE_TIMEOUT = 2147483.647
DEFAULT_MAX_SHELLS = 30             # Windows MaxShellsPerUser default
MAX_TOTAL_SHELLS = 500
MAX_ARGUMENTS = 1000
MAX_ENV_VARS = 1000
MAX_ID_LENGTH = 256
RESPONSE_OVERHEAD = 4096            # bytes of a ReceiveResponse besides the stream data
REAP_INTERVAL = 0.5

# Faults: (SOAP code, subcode, WSManFault/@Code, reason). The numbers are the WinRM
# HRESULTs of winerror.h (ERROR_WSMAN_*). TimedOut, InvalidSelectors (shell not found)
# and SchemaValidationError are copied from captured Windows responses (masterzen/winrm
# fixture_test.go, pypsrp and pywinrm tests); the others follow the ERROR_WSMAN_* entry
# whose text names that subcode. The shell quota code is from Windows answers quoted
# in public issue reports (test-kitchen #656).
F_TIMED_OUT = ('s:Receiver', 'w:TimedOut', 2150858793,
               'The WS-Management service cannot complete the operation within the time '
               'specified in OperationTimeout.  ')
F_SHELL_NOT_FOUND = ('s:Sender', 'w:InvalidSelectors', 2150858843,
                     'The WS-Management service cannot process the request because the '
                     'request contained invalid selectors for the resource. ')
F_SCHEMA = ('s:Sender', 'w:SchemaValidationError', 2150858817,
            'The SOAP XML in the message does not match the corresponding XML schema '
            'definition. Change the XML and retry. ')
F_ENCODING_LIMIT = ('s:Sender', 'w:EncodingLimit', 2150858805,
                    'The WS-Management service cannot process the request because the '
                    'encoding of the request exceeds an internal encoding limit. ')
F_ACTION = ('s:Sender', 'a:ActionNotSupported', 2150858771,
            'The WS-Management service does not support the specified action. ')
F_HEADER_REQUIRED = ('s:Sender', 'a:MessageInformationHeaderRequired', 2150858769,
                     'The WS-Management service cannot process the request. The request '
                     'does not have all the expected SOAP headers. ')
F_BAD_HEADER = ('s:Sender', 'a:InvalidMessageInformationHeader', 2150858767,
                'The WS-Management service cannot process the request. The request '
                'contains one or more invalid SOAP headers. ')
F_RESOURCE_URI = ('s:Sender', 'w:InvalidResourceURI', 2150858811,
                  'The WS-Management service cannot process the request. The resource URI '
                  'is missing or it has an incorrect format. ')
F_INVALID_OPTIONS = ('s:Sender', 'w:InvalidOptions', 2150858809,
                     'The WS-Management service cannot process the request because one or '
                     'more options are not valid. ')
F_SHELL_QUOTA = ('s:Sender', 'w:QuotaLimit', 2150859173,
                 'The WS-Management service cannot process the request. This user is allowed '
                 'a maximum number of %d concurrent shells, which has been exceeded. Close '
                 'existing shells or raise the quota for this user. ')
# Win32 ERROR_INVALID_PARAMETER, as Windows answers an empty command (masterzen/winrm #80).
F_INVALID_PARAMETER = ('s:Sender', 'w:InvalidParameter', 87, 'The parameter is incorrect. ')
F_INTERNAL = ('s:Receiver', 'w:InternalError', 2150858752, 'Internal error. ')

_DURATION = re.compile(
    r'^P(?:(\d{1,6})D)?(?:T(?:(\d{1,6})H)?(?:(\d{1,6})M)?(?:(\d{1,9}(?:\.\d{1,9})?)S)?)?$')
_FORBIDDEN_MARKUP = ('<!DOCTYPE', '<!ENTITY')


class Fault(Exception):
    def __init__(self, spec, message=None, reason=None, detail=None):
        code, subcode, wsman_code, default_reason = spec
        super().__init__(message or default_reason)
        self.code = code
        self.subcode = subcode
        self.wsman_code = wsman_code
        self.reason = reason or default_reason
        self.message = message or self.reason
        self.detail = detail          # w:FaultDetail URI, if any

    @classmethod
    def from_shell_error(cls, err):
        side = 's:Sender' if err.sender else 's:Receiver'
        text = err.message + ' '
        return cls((side, err.subcode, err.code, text))


def parse_duration(text):
    """xs:duration as WS-Man uses it (PT20S, PT60.000S, P0DT0H1M) -> seconds, or None."""
    m = _DURATION.match((text or '').strip())
    if not m or not any(m.groups()):
        return None
    days, hours, minutes, seconds = m.groups()
    return (int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60
            + float(seconds or 0))


def decode_body(body):
    """Bytes -> str. WS-Man allows UTF-8 and UTF-16 (BOM-marked)."""
    if body.startswith((b'\xff\xfe', b'\xfe\xff')):
        return body.decode('utf-16')
    return body.decode('utf-8')


def parse_xml(body):
    """Parse a request safely: no DTD, no entity declarations (no XXE, no entity bombs)."""
    try:
        text = decode_body(body)
    except UnicodeDecodeError:
        raise Fault(F_SCHEMA, 'The request is not valid UTF-8 or UTF-16.')
    if any(marker in text for marker in _FORBIDDEN_MARKUP):
        raise Fault(F_SCHEMA, 'The request contains a document type declaration.')
    # Drop the XML declaration: its encoding label no longer applies to a str.
    text = re.sub(r'^\ufeff?\s*<\?xml[^>]*\?>', '', text, count=1)
    # With DOCTYPE gone no entity can be declared; expat rejects undefined ones.
    parser = ET.XMLParser()
    try:
        parser.feed(text)
        return parser.close()
    except ET.ParseError as exc:
        raise Fault(F_SCHEMA, 'The request is not well-formed XML: %s' % exc)


def q(prefix, name):
    return '{%s}%s' % (NS[prefix], name)


class Request:
    """The parts of a request envelope the service acts on."""

    def __init__(self, root):
        if root.tag != q('s', 'Envelope'):
            raise Fault(F_SCHEMA, 'The root element is not a SOAP 1.2 Envelope.')
        header = root.find('s:Header', NS)
        self.body = root.find('s:Body', NS)
        if header is None or self.body is None:
            raise Fault(F_SCHEMA, 'The Envelope needs a Header and a Body.')
        self.message_id = _text(header.find('a:MessageID', NS))
        self.action = _text(header.find('a:Action', NS))
        self.to = _text(header.find('a:To', NS))
        self.resource_uri = _text(header.find('w:ResourceURI', NS))
        self.selectors = {}
        for sel in header.findall('w:SelectorSet/w:Selector', NS):
            self.selectors[sel.get('Name', '')] = _text(sel)
        self.options = {}
        for opt in header.findall('w:OptionSet/w:Option', NS):
            self.options[opt.get('Name', '')] = _text(opt)
        self.timeout_text = _text(header.find('w:OperationTimeout', NS))
        self.max_envelope_text = _text(header.find('w:MaxEnvelopeSize', NS))

    def validate(self):
        if self.message_id and len(self.message_id) > MAX_ID_LENGTH:
            raise Fault(F_BAD_HEADER, 'The MessageID header is too long.')
        if not self.message_id or not self.action:
            raise Fault(F_HEADER_REQUIRED)
        self.operation_timeout = DEFAULT_OPERATION_TIMEOUT
        if self.timeout_text:
            seconds = parse_duration(self.timeout_text)
            if seconds is None:
                raise Fault(F_BAD_HEADER, 'The OperationTimeout header is not a valid duration.')
            self.operation_timeout = min(seconds, MAX_OPERATION_TIMEOUT)
        self.max_envelope = None
        if self.max_envelope_text:
            try:
                self.max_envelope = int(self.max_envelope_text)
            except ValueError:
                raise Fault(F_SCHEMA, 'MaxEnvelopeSize is not an integer.')
            if self.max_envelope < MIN_ENVELOPE:
                raise Fault(F_ENCODING_LIMIT,
                            'The MaxEnvelopeSize %d is smaller than the minimum of %d.'
                            % (self.max_envelope, MIN_ENVELOPE))


def _text(elem):
    if elem is None or elem.text is None:
        return None
    return elem.text.strip()


def _bool_option(value, default):
    if value is None:
        return default
    v = value.strip().upper()
    if v in ('TRUE', '1'):
        return True
    if v in ('FALSE', '0'):
        return False
    raise Fault(F_INVALID_OPTIONS, 'The option value %r is not TRUE or FALSE.' % value)


def new_id():
    return str(uuid.uuid4()).upper()


class WsmanService:
    def __init__(self, config, log):
        self.config = config
        self.log = log
        self._lock = threading.Lock()
        self._shells = {}
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_idle, daemon=True, name='wsman-reaper')
        self._reaper.start()

    # --- entry point -------------------------------------------------------------

    def handle(self, body, identity):
        server_limit = int(self.config.get('max_envelope_size') or DEFAULT_MAX_ENVELOPE)
        if len(body) > server_limit:
            # Windows answers a request over MaxEnvelopeSizekb with HTTP 413 and no
            # SOAP body (clients report ERROR_WSMAN_HTTP_REQUEST_TOO_LARGE_STATUS).
            self.log({'event': 'fault', 'code': 413, 'action': None,
                      'reason': 'request of %d bytes exceeds %d' % (len(body), server_limit)})
            return 413, b''
        if not body.strip():
            # pywinrm finishes authentication with an empty POST; Windows answers 200.
            return 200, b''
        request = None
        try:
            request = Request(parse_xml(body))
            request.validate()
            return 200, self._dispatch(request, identity, server_limit)
        except Fault as fault:
            return 500, self._fault_response(fault, request, identity)
        except ShellError as err:
            return 500, self._fault_response(Fault.from_shell_error(err), request, identity)
        except Exception as exc:      # never let a bug kill the connection thread
            self.log({'event': 'error', 'error': repr(exc), 'traceback': traceback.format_exc()})
            fault = Fault(F_INTERNAL, 'Internal error: %s' % exc)
            return 500, self._fault_response(fault, request, identity)

    def shutdown(self):
        self._stop.set()
        with self._lock:
            shells = list(self._shells.values())
            self._shells.clear()
        for sh in shells:
            sh.close()

    # --- dispatch ----------------------------------------------------------------

    def _dispatch(self, req, identity, server_limit):
        handlers = {
            ACTION_CREATE: self._create,
            ACTION_DELETE: self._delete,
            ACTION_COMMAND: self._command,
            ACTION_SEND: self._send,
            ACTION_RECEIVE: self._receive,
            ACTION_SIGNAL: self._signal,
        }
        handler = handlers.get(req.action)
        if handler is None:
            raise Fault(F_ACTION, 'The action %s is not supported by the service.' % req.action)
        if req.resource_uri != CMD_URI:
            raise Fault(F_RESOURCE_URI, 'The resource URI %r is not supported by this test host.'
                        % req.resource_uri)
        req.envelope_limit = min(req.max_envelope or server_limit, server_limit)
        if req.action == ACTION_CREATE:
            return handler(req, identity)
        sh = self._find_shell(req, identity)
        sh.enter()
        try:
            return handler(req, identity, sh)
        finally:
            sh.leave()

    def _find_shell(self, req, identity):
        shell_id = req.selectors.get('ShellId')
        if not shell_id:
            raise Fault(F_SHELL_NOT_FOUND, 'The request needs a ShellId selector.',
                        detail='http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/'
                               'InsufficientSelectors')
        with self._lock:
            sh = self._shells.get(shell_id.upper())
        # Another user's shell is as invisible as a missing one.
        if sh is None or sh.owner != identity:
            raise Fault(F_SHELL_NOT_FOUND,
                        'The request for the Windows Remote Shell with ShellId %s failed because '
                        'the shell was not found on the server. Possible causes are: the '
                        'specified ShellId is incorrect or the shell no longer exists on the '
                        'server. Provide the correct ShellId or create a new shell and retry '
                        'the operation. ' % shell_id,
                        detail='http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/'
                               'UnexpectedSelectors')
        return sh

    # --- Create ------------------------------------------------------------------

    def _create(self, req, identity):
        spec = req.body.find('rsp:Shell', NS)
        if spec is None:
            raise Fault(F_SCHEMA, 'The Create request has no rsp:Shell element.')
        codepage = self._codepage(req.options.get('WINRS_CODEPAGE'))
        noprofile = _bool_option(req.options.get('WINRS_NOPROFILE'), False)
        idle = DEFAULT_IDLE_TIMEOUT
        idle_text = _text(spec.find('rsp:IdleTimeOut', NS))
        if idle_text:
            idle = parse_duration(idle_text)
            if idle is None:
                raise Fault(F_SCHEMA, 'IdleTimeOut is not a valid duration.')
            idle = max(MIN_IDLE_TIMEOUT, min(idle, MAX_IDLE_TIMEOUT))
        workdir = _text(spec.find('rsp:WorkingDirectory', NS)) or self.config.get('workdir') or '/'
        account = shellmod.resolve_account(self.config.get('run_as'))
        env = shellmod.base_environment(account)
        variables = spec.findall('rsp:Environment/rsp:Variable', NS)
        if len(variables) > MAX_ENV_VARS:
            raise Fault(F_ENCODING_LIMIT, 'Too many environment variables.')
        for var in variables:
            name = var.get('Name', '')
            if not name or '=' in name:
                raise Fault(F_SCHEMA, 'Invalid environment variable name %r.' % name)
            env[name] = var.text or ''
        inputs = _text(spec.find('rsp:InputStreams', NS)) or 'stdin'
        outputs = _text(spec.find('rsp:OutputStreams', NS)) or 'stdout stderr'

        shell_id = new_id()
        sh = shellmod.Shell(shell_id, identity, account, workdir, env, codepage, noprofile,
                            idle, inputs, outputs, self.log)
        self._register(sh, identity)
        self.log({'event': 'shell_create', 'shell_id': shell_id, 'identity': identity,
                  'codepage': codepage, 'noprofile': noprofile, 'workdir': workdir,
                  'env_names': sorted(v.get('Name') for v in variables),
                  'idle_timeout': idle, 'input_streams': inputs, 'output_streams': outputs,
                  'run_as': account.name if account.uid is not None else None})
        address = req.to or 'http://localhost/wsman'
        body = (
            '<x:ResourceCreated><a:Address>%s</a:Address><a:ReferenceParameters>'
            '<w:ResourceURI>%s</w:ResourceURI><w:SelectorSet>'
            '<w:Selector Name="ShellId">%s</w:Selector></w:SelectorSet>'
            '</a:ReferenceParameters></x:ResourceCreated>'
            '<rsp:Shell xmlns:rsp="%s"><rsp:ShellId>%s</rsp:ShellId>'
            '<rsp:ResourceUri>%s</rsp:ResourceUri><rsp:Owner>%s</rsp:Owner>'
            '<rsp:IdleTimeOut>PT%.3fS</rsp:IdleTimeOut>'
            '<rsp:InputStreams>%s</rsp:InputStreams><rsp:OutputStreams>%s</rsp:OutputStreams>'
            '<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>'
            '<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>'
        ) % (escape(address), CMD_URI, shell_id, SHELL_NS, shell_id, CMD_URI,
             escape(identity or ''), idle, escape(inputs), escape(outputs))
        return self._response(req, TRANSFER + '/CreateResponse', body)

    def _codepage(self, value):
        if value is None:
            return 437                # cmd.exe's OEM default on en-US Windows
        try:
            codepage = int(value)
        except ValueError:
            raise Fault(F_INVALID_OPTIONS, 'WINRS_CODEPAGE %r is not a number.' % value)
        if not 1 <= codepage <= 65535:
            raise Fault(F_INVALID_OPTIONS, 'WINRS_CODEPAGE %d is out of range.' % codepage)
        return codepage

    def _register(self, sh, identity):
        limit = int(self.config.get('max_shells') or DEFAULT_MAX_SHELLS)
        with self._lock:
            mine = sum(1 for s in self._shells.values() if s.owner == identity)
            if mine >= limit or len(self._shells) >= MAX_TOTAL_SHELLS:
                spec = F_SHELL_QUOTA
                raise Fault(spec, reason=spec[3] % limit, message=spec[3] % limit)
            self._shells[sh.id] = sh

    # --- Delete ------------------------------------------------------------------

    def _delete(self, req, identity, sh):
        self._forget_shell(sh, 'delete')
        return self._response(req, TRANSFER + '/DeleteResponse', '')

    def _forget_shell(self, sh, reason):
        with self._lock:
            self._shells.pop(sh.id, None)
        sh.close()
        self.log({'event': 'shell_delete', 'shell_id': sh.id, 'identity': sh.owner,
                  'reason': reason})

    def _reap_idle(self):
        while not self._stop.wait(REAP_INTERVAL):
            now = time.monotonic()
            with self._lock:
                expired = [s for s in self._shells.values() if s.idle_expired(now)]
            for sh in expired:
                self._forget_shell(sh, 'idle_timeout')

    # --- Command -----------------------------------------------------------------

    def _command(self, req, identity, sh):
        line = req.body.find('rsp:CommandLine', NS)
        if line is None:
            raise Fault(F_SCHEMA, 'The Command request has no rsp:CommandLine element.')
        command = line.findtext('rsp:Command', default=None, namespaces=NS)
        if command is None or not command.strip():
            raise Fault(F_INVALID_PARAMETER)
        arguments = [a.text or '' for a in line.findall('rsp:Arguments', NS)]
        if len(arguments) > MAX_ARGUMENTS:
            raise Fault(F_ENCODING_LIMIT, 'Too many rsp:Arguments elements.')
        skip = _bool_option(req.options.get('WINRS_SKIP_CMD_SHELL'), False)
        console = _bool_option(req.options.get('WINRS_CONSOLEMODE_STDIN'), True)
        command_id = new_id()
        self.log({'event': 'command', 'shell_id': sh.id, 'command_id': command_id,
                  'identity': identity, 'command': command.strip(), 'arguments': arguments,
                  'skip_cmd_shell': skip, 'console_mode_stdin': console})
        cmd = sh.start_command(command_id, command.strip(), arguments, skip)
        self.log({'event': 'command_started', 'shell_id': sh.id, 'command_id': command_id,
                  'pid': cmd.proc.pid, 'argv': cmd.argv})
        body = ('<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId></rsp:CommandResponse>'
                % command_id)
        return self._response(req, SHELL_NS + '/CommandResponse', body)

    def _find_command(self, sh, command_id):
        cmd = sh.command((command_id or '').upper()) if command_id else None
        if cmd is None:
            raise Fault(F_INVALID_PARAMETER, 'The command %s was not found in shell %s.' % (command_id, sh.id))
        return cmd

    # --- Send --------------------------------------------------------------------

    def _send(self, req, identity, sh):
        streams = req.body.findall('rsp:Send/rsp:Stream', NS)
        if not streams:
            raise Fault(F_SCHEMA, 'The Send request has no rsp:Stream element.')
        for stream in streams:
            if stream.get('Name') not in sh.input_streams.split():
                raise Fault(F_SCHEMA, 'The stream %r is not an input stream of the shell.'
                            % stream.get('Name'))
            cmd = self._find_command(sh, stream.get('CommandId'))
            try:
                data = base64.b64decode((stream.text or '').strip(), validate=True)
            except ValueError:
                raise Fault(F_SCHEMA, 'The stream data is not valid base64.')
            end = (stream.get('End') or '').lower() in ('true', '1')
            try:
                cmd.send(data, end, req.operation_timeout)
            except TimeoutError:
                raise Fault(F_TIMED_OUT)
            self.log({'event': 'send', 'shell_id': sh.id, 'command_id': cmd.id,
                      'bytes': len(data), 'end': end})
        return self._response(req, SHELL_NS + '/SendResponse', '<rsp:SendResponse/>')

    # --- Receive -----------------------------------------------------------------

    def _receive(self, req, identity, sh):
        desired = req.body.find('rsp:Receive/rsp:DesiredStream', NS)
        if desired is None:
            raise Fault(F_SCHEMA, 'The Receive request has no rsp:DesiredStream element.')
        cmd = self._find_command(sh, desired.get('CommandId'))
        names = (desired.text or '').split() or sh.output_streams.split()
        budget = max(1024, (req.envelope_limit - RESPONSE_OVERHEAD) * 3 // 4)
        try:
            result = cmd.receive(names, budget, req.operation_timeout)
        except TimeoutError:
            raise Fault(F_TIMED_OUT)
        parts = []
        for name, data, end in result.chunks:
            parts.append('<rsp:Stream Name=%s CommandId="%s"%s>%s</rsp:Stream>' % (
                quoteattr(name), cmd.id, ' End="true"' if end else '',
                base64.b64encode(data).decode('ascii')))
        if result.done:
            parts.append('<rsp:CommandState CommandId="%s" State="%s">'
                         '<rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState>'
                         % (cmd.id, STATE_DONE, result.exit_code))
        else:
            parts.append('<rsp:CommandState CommandId="%s" State="%s"/>'
                         % (cmd.id, STATE_RUNNING))
        body = '<rsp:ReceiveResponse>%s</rsp:ReceiveResponse>' % ''.join(parts)
        return self._response(req, SHELL_NS + '/ReceiveResponse', body)

    # --- Signal ------------------------------------------------------------------

    def _signal(self, req, identity, sh):
        sig = req.body.find('rsp:Signal', NS)
        if sig is None:
            raise Fault(F_SCHEMA, 'The Signal request has no rsp:Signal element.')
        code = _text(sig.find('rsp:Code', NS))
        if code not in SIGNALS:
            raise Fault(F_INVALID_PARAMETER, 'Unknown signal code %r.' % code)
        cmd = self._find_command(sh, sig.get('CommandId'))
        name, signum = SIGNALS[code]
        self.log({'event': 'signal', 'shell_id': sh.id, 'command_id': cmd.id, 'code': name})
        if signum is None:
            sh.forget_command(cmd.id)
            cmd.terminate()
        else:
            cmd.signal(signum)
        return self._response(req, SHELL_NS + '/SignalResponse', '<rsp:SignalResponse/>')

    # --- envelopes ---------------------------------------------------------------

    def _envelope(self, action, relates_to, body):
        relates = ('<a:RelatesTo>%s</a:RelatesTo>' % escape(relates_to)) if relates_to else ''
        text = (
            '<s:Envelope xml:lang="en-US" xmlns:s="%s" xmlns:a="%s" xmlns:x="%s" xmlns:w="%s" '
            'xmlns:rsp="%s" xmlns:p="%s"><s:Header><a:Action>%s</a:Action>'
            '<a:MessageID>uuid:%s</a:MessageID><a:To>%s</a:To>%s</s:Header>'
            '<s:Body>%s</s:Body></s:Envelope>'
        ) % (NS['s'], NS['a'], NS['x'], NS['w'], NS['rsp'], NS['p'], action, new_id(),
             ANONYMOUS, relates, body)
        return text.encode('utf-8')

    def _response(self, req, action, body):
        return self._envelope(action, req.message_id, body)

    def _fault_response(self, fault, req, identity):
        action = req.action if req is not None else None
        self.log({'event': 'fault', 'code': fault.wsman_code, 'subcode': fault.subcode,
                  'action': action, 'identity': identity, 'message': fault.message})
        machine = socket.gethostname()
        if req is not None and req.to:
            machine = urllib.parse.urlsplit(req.to).hostname or machine
        detail = ('<w:FaultDetail>%s</w:FaultDetail>' % fault.detail) if fault.detail else ''
        body = (
            '<s:Fault><s:Code><s:Value>%s</s:Value><s:Subcode><s:Value>%s</s:Value>'
            '</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">%s</s:Text></s:Reason>'
            '<s:Detail>%s<f:WSManFault xmlns:f="%s" Code="%d" Machine=%s>'
            '<f:Message>%s</f:Message></f:WSManFault></s:Detail></s:Fault>'
        ) % (fault.code, fault.subcode, escape(fault.reason), detail, NS['f'],
             fault.wsman_code, quoteattr(machine), escape(fault.message))
        fault_action = (ADDRESSING_FAULT_ACTION if fault.subcode.startswith('a:')
                        else WSMAN_FAULT_ACTION)
        relates = req.message_id if req is not None else None
        return self._envelope(fault_action, relates, body)
