// A small WinRM client built on masterzen/winrm (Debian's 2020 snapshot), used
// by tests/integration/test_go_winrm.py as an independent client of the test
// host. It runs one command and prints one JSON object on stdout:
//
//	{"stdout": "...", "stderr": "...", "exit_code": N, "error": ""}
//
// It exits 0 when it could report (even if the remote command failed or the
// client got an error: "error" says so), 2 on bad arguments. The password is
// read from the environment (GO_WINRM_PASSWORD), never from argv.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"strings"
	"time"

	"github.com/masterzen/winrm"
)

type result struct {
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error"`
}

func readFile(path string) []byte {
	if path == "" {
		return nil
	}
	data, err := ioutil.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot read %s: %v\n", path, err)
		os.Exit(2)
	}
	return data
}

func main() {
	host := flag.String("host", "localhost", "WinRM host")
	port := flag.Int("port", 0, "WinRM port")
	https := flag.Bool("https", false, "use HTTPS")
	cacert := flag.String("cacert", "", "PEM CA certificate to verify the server with")
	auth := flag.String("auth", "basic", "basic | ntlm | cert")
	user := flag.String("user", "", "user name (DOMAIN\\user for NTLM)")
	cert := flag.String("cert", "", "PEM client certificate (auth=cert)")
	key := flag.String("key", "", "PEM client key (auth=cert)")
	command := flag.String("cmd", "", "command line to run")
	stdin := flag.String("stdin", "", "text to send to the command's stdin")
	timeout := flag.String("timeout", "PT10S", "WS-Man OperationTimeout (under the 30 s HTTP timeout)")
	flag.Parse()
	if *port == 0 || *command == "" {
		flag.Usage()
		os.Exit(2)
	}

	endpoint := winrm.NewEndpoint(*host, *port, *https, false, readFile(*cacert),
		readFile(*cert), readFile(*key), 30*time.Second)
	params := winrm.NewParameters(*timeout, "en-US", 153600)
	switch *auth {
	case "basic":
	case "ntlm":
		params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
	case "cert":
		params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientAuthRequest{} }
	default:
		fmt.Fprintf(os.Stderr, "unknown -auth %q\n", *auth)
		os.Exit(2)
	}

	var res result
	client, err := winrm.NewClientWithParameters(endpoint, *user, os.Getenv("GO_WINRM_PASSWORD"), params)
	if err == nil && *stdin == "" {
		res.Stdout, res.Stderr, res.ExitCode, err = client.RunWithString(*command, "")
	} else if err == nil {
		// RunWithString defers closing stdin until the command has ended, so a
		// command that reads to end of input never ends; RunWithInput closes it.
		var stdout, stderr bytes.Buffer
		res.ExitCode, err = client.RunWithInput(*command, &stdout, &stderr, strings.NewReader(*stdin))
		res.Stdout, res.Stderr = stdout.String(), stderr.String()
	}
	if err != nil {
		res.Error = err.Error()
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}
