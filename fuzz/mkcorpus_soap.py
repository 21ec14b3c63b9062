#!/usr/bin/python3
"""Seeds for fuzz_soap: the test host's real answers (tests/testhost/wsman.py).

Drives WsmanService.handle() in-process with the requests the broker sends
(Create, Command, Send, Receive, Signal, Delete, and ones that fault), each
with MessageID FUZZ_SOAP_MSG_ID, and writes each answer to DIR. CommandIds
in the answers become FUZZ_SOAP_CMD_ID (fuzz/fuzz.h), so the Receive parser
meets its own command. Run by fuzz/mkcorpus: mkcorpus_soap.py DIR
"""
import base64
import os
import sys
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'testhost'))
import wsman  # noqa: E402

MSG_ID = 'uuid:11111111-2222-4333-8444-555555555555'
CMD_ID = '22222222-3333-4444-8555-666666666666'
NS = wsman.NS


def request(action, body, shell_id=None, timeout='PT20S', options=''):
    selector = ('<w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector></w:SelectorSet>'
                % shell_id) if shell_id else ''
    return ('<s:Envelope xmlns:s="%s" xmlns:a="%s" xmlns:w="%s" xmlns:rsp="%s">'
            '<s:Header><a:To>http://localhost:5985/wsman</a:To>'
            '<a:ReplyTo><a:Address s:mustUnderstand="true">%s</a:Address></a:ReplyTo>'
            '<a:Action s:mustUnderstand="true">%s</a:Action>'
            '<w:MaxEnvelopeSize s:mustUnderstand="true">153600</w:MaxEnvelopeSize>'
            '<a:MessageID>%s</a:MessageID><w:Locale xml:lang="en-US" s:mustUnderstand="false"/>'
            '<w:OperationTimeout>%s</w:OperationTimeout>'
            '<w:ResourceURI s:mustUnderstand="true">%s</w:ResourceURI>%s%s</s:Header>'
            '<s:Body>%s</s:Body></s:Envelope>'
            % (NS['s'], NS['a'], NS['w'], NS['rsp'], wsman.ANONYMOUS, action, MSG_ID, timeout,
               wsman.CMD_URI, selector, options, body)).encode()


def main():
    out = sys.argv[1]
    svc = wsman.WsmanService({'workdir': '/tmp'}, lambda event: None)
    n = [0]

    def call(name, action, body, **kw):
        status, answer = svc.handle(request(action, body, **kw), 'alice')
        with open(os.path.join(out, name), 'wb') as f:
            f.write(answer)
        return status, answer

    def ids(answer, tag):
        text = answer.decode()
        start = text.index('<%s>' % tag) + len(tag) + 2
        return text[start:text.index('</%s>' % tag, start)]

    _, created = call('create', wsman.ACTION_CREATE,
                      '<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>'
                      '<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>',
                      options='<w:OptionSet><w:Option Name="WINRS_CODEPAGE">65001</w:Option>'
                              '</w:OptionSet>')
    shell = ids(created, 'rsp:ShellId')

    def command(name, line, args=()):
        arguments = ''.join('<rsp:Arguments>%s</rsp:Arguments>' % escape(a) for a in args)
        _, answer = svc.handle(request(wsman.ACTION_COMMAND,
                                       '<rsp:CommandLine><rsp:Command>%s</rsp:Command>%s'
                                       '</rsp:CommandLine>' % (escape(line), arguments),
                                       shell_id=shell), 'alice')
        cid = ids(answer, 'rsp:CommandId')
        if name:
            with open(os.path.join(out, name), 'wb') as f:
                f.write(answer.replace(cid.encode(), CMD_ID.encode()))
        return cid

    def receive(name, cid, timeout='PT20S'):
        while True:
            status, answer = svc.handle(request(
                wsman.ACTION_RECEIVE,
                '<rsp:Receive><rsp:DesiredStream CommandId="%s">stdout stderr</rsp:DesiredStream>'
                '</rsp:Receive>' % cid, shell_id=shell, timeout=timeout), 'alice')
            n[0] += 1
            with open(os.path.join(out, '%s-%d' % (name, n[0])), 'wb') as f:
                f.write(answer.replace(cid.encode(), CMD_ID.encode()))
            if status != 200 or b'CommandState/Done' in answer:
                return

    cid = command('command', 'echo', ['hello'])
    receive('receive', cid)
    cid = command(None, 'printf "out\\n"; printf "err\\n" >&2; exit 3')
    receive('receive-stderr-exit', cid)
    cid = command(None, 'cat')
    call('send', wsman.ACTION_SEND,
         '<rsp:Send><rsp:Stream Name="stdin" CommandId="%s" End="true">%s</rsp:Stream></rsp:Send>'
         % (cid, base64.b64encode(b'line\n').decode()), shell_id=shell)
    receive('receive-stdin', cid)
    cid = command(None, 'sleep 5')
    receive('receive-timed-out', cid, timeout='PT0.2S')
    call('signal', wsman.ACTION_SIGNAL,
         '<rsp:Signal CommandId="%s"><rsp:Code>%s/signal/terminate</rsp:Code></rsp:Signal>'
         % (cid, wsman.SHELL_NS), shell_id=shell)
    call('fault-unknown-command', wsman.ACTION_RECEIVE,
         '<rsp:Receive><rsp:DesiredStream CommandId="%s">stdout</rsp:DesiredStream></rsp:Receive>'
         % CMD_ID, shell_id=shell)
    call('delete', wsman.ACTION_DELETE, '', shell_id=shell)
    call('fault-unknown-shell', wsman.ACTION_DELETE, '', shell_id=shell)
    svc.shutdown()


if __name__ == '__main__':
    main()
