package cli_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/api"
	"github.com/provisioner/provisioner/internal/pgtest"
)

// hostile is a reference that, printed raw, turns a terminal red and forges a line.
const hostile = "a\u001b[31mRED\r\nfake"

// TestControlCharactersEscaped: a string with control characters, created through
// the Web API and through a file, comes out of every operator output escaped: no
// ESC, CR or forged line reaches the terminal (issue 11, part 1). requests show
// names the token that created the API's request (part 5).
func TestControlCharactersEscaped(t *testing.T) {
	db, dsn := pgtest.New(t)
	vars := map[string]string{"DATABASE_URL": dsn, "LOG_FORMAT": "text"}
	if r := runCLI(t, vars, "reference", "load", filepath.Join("..", "samples", "reference")); r.code != 0 {
		t.Fatalf("reference load: %d %s", r.code, r.stderr)
	}
	token := strings.TrimSpace(runCLI(t, vars, "tokens", "create", "crm").stdout)
	srv := httptest.NewServer(api.New(db, logrus.New(), api.Options{}).Handler())
	defer srv.Close()
	body, _ := json.Marshal(map[string]any{"token": token, "subscription_identifier": map[string]string{"number": "S1004"},
		"smartcard_ca_id": "1000000004", "reference": hostile})
	resp, err := http.Post(srv.URL+"/nagravision/provisioning_requests/reset_pin", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("create through the API: %d %s", resp.StatusCode, answer)
	}

	// The same through a file, as its name and as a field (quoted, CR LF inside).
	inbox := t.TempDir()
	csv := "action,subscription_number,smartcard_ca_id,reference\nreset_pin,S1006,1000000006,\"" + hostile + "2\"\nreset_pin,S9999,1000000006,\"" + hostile + "3\"\n"
	if err := os.WriteFile(filepath.Join(inbox, "bad\u001b[2Jname.csv"), []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	imp := runCLI(t, vars, "import", "--settle", "0s", "--inbox", inbox)
	if imp.code != 3 { // the second row's subscription does not exist
		t.Fatalf("import: exit %d\n%s%s", imp.code, imp.stdout, imp.stderr)
	}

	outputs := map[string]result{"import": imp}
	for name, args := range map[string][]string{
		"show 1":     {"requests", "show", "1"},
		"show 2":     {"requests", "show", "2"},
		"list":       {"requests", "list"},
		"list csv":   {"requests", "list", "--format", "csv"},
		"status":     {"status", "--inbox", inbox},
		"import dry": {"import", "--dry-run"},
	} {
		if name == "import dry" { // the rejects file, printed
			files, _ := filepath.Glob(filepath.Join(inbox, "rejects", "*"))
			if len(files) != 1 {
				t.Fatalf("rejects files: %v", files)
			}
			args = append(args, files...)
		}
		outputs[name] = runCLI(t, vars, args...)
	}
	for name, r := range outputs {
		out := r.stdout + r.stderr
		if strings.ContainsAny(out, "\u001b\r") || strings.Contains(out, "\nfake") {
			t.Errorf("%s: a control character reaches the terminal:\n%q", name, out)
		}
	}
	if out := outputs["show 1"].stdout; !strings.Contains(out, `reference:           a\x1b[31mRED\r\nfake`+"\n") ||
		!strings.Contains(out, "source:              Web API, token crm\n") {
		t.Errorf("show 1:\n%s", out)
	}
	if out := outputs["show 2"].stdout; !strings.Contains(out, `bad\x1b[2Jname`) || !strings.Contains(out, `a\x1b[31mRED\nfake2`) {
		t.Errorf("show 2 (from the file):\n%s", out)
	}
}
