#!/usr/bin/python3
"""curl --negotiate (MIT GSSAPI, SPNEGO) with a Kerberos ticket against the
WinRM test host over HTTPS: authentication only, with real WS-Man Create and
Delete envelopes as plain SOAP (TLS protects them).

Run: /usr/bin/python3 tests/integration/test_curl_negotiate.py
"""
import os
import subprocess
import sys
import unittest
import uuid
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bedfixture import BedTestCase  # noqa: E402

CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ENVELOPE = """<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" \
xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" \
xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" \
xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">
<s:Header>
<a:To>{to}</a:To>
<a:ReplyTo><a:Address s:mustUnderstand="true">\
http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>
<w:MaxEnvelopeSize s:mustUnderstand="true">153600</w:MaxEnvelopeSize>
<a:MessageID>uuid:{msgid}</a:MessageID>
<w:Locale xml:lang="en-US" s:mustUnderstand="false"/>
<w:OperationTimeout>PT20S</w:OperationTimeout>
<w:ResourceURI s:mustUnderstand="true">\
http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI>
<a:Action s:mustUnderstand="true">{action}</a:Action>
{extra}</s:Header>
<s:Body>{body}</s:Body>
</s:Envelope>
"""
CREATE_EXTRA = ('<w:OptionSet><w:Option Name="WINRS_NOPROFILE">FALSE</w:Option>'
                '<w:Option Name="WINRS_CODEPAGE">437</w:Option></w:OptionSet>\n')
CREATE_BODY = ("<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>"
               "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>")
DELETE_EXTRA = '<w:SelectorSet><w:Selector Name="ShellId">{}</w:Selector></w:SelectorSet>\n'


def local(tag):
    return tag.rsplit("}", 1)[-1]


class CurlNegotiateTest(BedTestCase):


    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.bed.env
        cls.principal = "%s@%s" % (env["WINRM_USER"], env["WINRM_REALM"])
        cls.kenv = cls.bed.proc_env()
        # The password goes on stdin, never on the command line.
        res = subprocess.run(["kinit", cls.principal], input=env["WINRM_PASSWORD"] + "\n",
                             env=cls.kenv, capture_output=True, text=True, timeout=20)
        cls.kinit_error = None if res.returncode == 0 else (res.stderr or res.stdout)

    def setUp(self):
        self.assertIsNone(self.kinit_error, "kinit failed: %s" % self.kinit_error)

    def curl(self, action, extra="", body="", env=None):
        """POST one envelope with curl --negotiate; (HTTP status, body, msgid)."""
        msgid = str(uuid.uuid4()).upper()
        url = self.bed.url(True)
        envelope = ENVELOPE.format(to=url, msgid=msgid, action=action, extra=extra, body=body)
        out = os.path.join(self.bed.dir, "curl-body")
        res = subprocess.run(
            ["curl", "-sS", "--negotiate", "-u", ":", "--cacert", self.bed.env["WINRM_CA_CERT"],
             "-H", "Content-Type: application/soap+xml;charset=UTF-8",
             "--data-binary", "@-", "-o", out, "-w", "%{http_code}", url],
            input=envelope.encode(), env=env or self.kenv, capture_output=True, timeout=20)
        self.assertEqual(res.returncode, 0, res.stderr)
        with open(out, "rb") as f:
            return int(res.stdout), f.read(), msgid

    def test_create_and_delete_shell(self):
        self.events()
        status, body, msgid = self.curl(CREATE, CREATE_EXTRA, CREATE_BODY)
        self.assertEqual(status, 200, body[:500])
        root = ET.fromstring(body)
        relates = [e.text for e in root.iter() if local(e.tag) == "RelatesTo"]
        self.assertEqual(relates, ["uuid:" + msgid])
        ids = [e.text for e in root.iter()
               if local(e.tag) == "Selector" and e.get("Name") == "ShellId"]
        self.assertEqual(len(ids), 1, body[:500])
        shell_id = ids[0]
        self.assertTrue(shell_id)

        evs = self.events()
        auths = [e for e in evs if e.get("event") == "auth" and "conn" in e]
        self.assertEqual(len(auths), 1, auths)
        a = auths[0]
        self.assertEqual((a["mechanism"], a["principal"], a["scheme"], a["tls"]),
                         ("kerberos", self.principal, "Negotiate", True), a)
        self.assertIs(a.get("spnego"), True, a)     # curl wraps Kerberos in SPNEGO
        msgs = [e for e in evs if e.get("event") == "message"]
        self.assertEqual([(m["action"], m["status"], m["encrypted"], m["principal"])
                          for m in msgs], [(CREATE, 200, False, self.principal)])

        status, body, msgid = self.curl(DELETE, DELETE_EXTRA.format(shell_id))
        self.assertEqual(status, 200, body[:500])
        relates = [e.text for e in ET.fromstring(body).iter() if local(e.tag) == "RelatesTo"]
        self.assertEqual(relates, ["uuid:" + msgid])
        msgs = [e for e in self.events() if e.get("event") == "message"]
        self.assertEqual([(m["action"], m["status"], m["mechanism"]) for m in msgs],
                         [(DELETE, 200, "kerberos")])

    def test_no_ticket_gets_401(self):
        # An empty ticket cache: curl has nothing to offer and gets the challenge.
        self.events()
        env = dict(self.kenv, KRB5CCNAME="FILE:" + os.path.join(self.bed.dir, "krb5cc_empty"))
        status, _, _ = self.curl(CREATE, CREATE_EXTRA, CREATE_BODY, env=env)
        self.assertEqual(status, 401)
        evs = self.events()
        self.assertFalse([e for e in evs if e.get("event") in ("auth", "message")], evs)


if __name__ == "__main__":
    unittest.main(verbosity=2)
