package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"golang.org/x/net/html"

	"github.com/provisioner/provisioner/console"
	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/ops"
)

// uploadCSV: two rows the importer rejects (no such smartcard: no reference data
// is loaded), one a set_pin whose PIN must never be shown.
const uploadCSV = "action,smartcard_serial_number,pin,reference\n" +
	"set_pin,SC-NOPE-1,4321,UP-1\n" +
	"reset_smartcard,SC-NOPE-2,,UP-2\n"

// TestUpload: a CSV uploaded through the browser is checked by the importer's dry
// run (its rejects shown, PINs masked, nothing written to the database), and goes
// into the inbox, 0600, only when the operator confirms; recorded in the audit trail.
func TestUpload(t *testing.T) {
	e := newEnvWith(t, false, func(o *console.Options) { o.MaxUpload = 4096 })
	ctx := context.Background()
	b := e.as(t, "operator")
	p := b.get("/console/files")
	if p.status != http.StatusOK || len(find(p.doc, withAttr("id", "upload-form"))) != 1 {
		t.Fatalf("files page: %d\n%s", p.status, p.body)
	}
	csrf := p.csrf(t)
	p = b.upload("/console/upload", map[string]string{"csrf": csrf, "name": "orders.csv"}, "local name.csv", []byte(uploadCSV))
	if p.status != http.StatusOK {
		t.Fatalf("upload: %d\n%s", p.status, p.body)
	}
	if got := text(p.one(t, "verdict")); got != "2 rows read: 0 would become requests, 2 would be rejected." {
		t.Errorf("verdict: %q", got)
	}
	rejects := text(p.one(t, "rejects"))
	if !strings.Contains(rejects, "SC-NOPE-1") || !strings.Contains(rejects, ops.MaskedPIN) || strings.Contains(p.body, "4321") {
		t.Errorf("rejects (PIN masked): %s", rejects)
	}
	var files int
	if err := e.db.GetContext(ctx, &files, "SELECT count(*) FROM import_files"); err != nil || files != 0 {
		t.Errorf("the dry run wrote %d import records (%v)", files, err)
	}
	if _, err := os.Stat(filepath.Join(e.inbox, "orders.csv")); !os.IsNotExist(err) {
		t.Errorf("in the inbox before the confirmation: %v", err)
	}
	staged, _ := filepath.Glob(filepath.Join(e.inbox, console.UploadDir, "*.csv"))
	if len(staged) != 1 {
		t.Fatalf("staged: %v", staged)
	}
	if st, _ := os.Stat(staged[0]); st.Mode().Perm() != 0o600 {
		t.Errorf("staged upload mode %v", st.Mode().Perm())
	}
	form := url.Values{}
	for _, in := range find(p.one(t, "confirm"), inputNamedAny) {
		form.Set(attr(in, "name"), attr(in, "value"))
	}
	p = b.post("/console/upload/confirm", form)
	if p.status != http.StatusOK || text(p.one(t, "summary")) != "1 changed." {
		t.Fatalf("confirm: %d\n%s", p.status, p.body)
	}
	st, err := os.Stat(filepath.Join(e.inbox, "orders.csv"))
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != int64(len(uploadCSV)) {
		t.Fatalf("in the inbox: %v, %v", st, err)
	}
	if left, _ := filepath.Glob(filepath.Join(e.inbox, console.UploadDir, "*")); len(left) != 0 {
		t.Errorf("left in %s: %v", console.UploadDir, left)
	}
	audit, err := ops.ListAudit(ctx, e.db, ops.AuditFilter{Action: ops.ActionUpload})
	if err != nil || len(audit) != 1 || audit[0].Operator != "operator" {
		t.Errorf("audit: %+v, %v", audit, err)
	}
	// Confirmed twice: the upload is gone, nothing replaced.
	if p := b.post("/console/upload/confirm", form); p.status != http.StatusConflict {
		t.Errorf("confirmed twice: %d", p.status)
	}
	// The same name again: the inbox's file is never replaced.
	p = b.upload("/console/upload", map[string]string{"csrf": csrf, "name": "orders.csv"}, "x.csv", []byte("action\n"))
	form = url.Values{}
	for _, in := range find(p.one(t, "confirm"), inputNamedAny) {
		form.Set(attr(in, "name"), attr(in, "value"))
	}
	if p := b.post("/console/upload/confirm", form); p.status != http.StatusConflict || !strings.Contains(text(p.one(t, "error")), "waits in the inbox already") {
		t.Errorf("same name: %d\n%s", p.status, p.body)
	}
	if got, _ := os.ReadFile(filepath.Join(e.inbox, "orders.csv")); string(got) != uploadCSV {
		t.Errorf("the inbox's file was replaced: %q", got)
	}

	// Mistakes and refusals.
	for _, c := range []struct {
		name, file string
		content    []byte
		status     int
		want       string
	}{
		{"../escape.csv", "a.csv", []byte(uploadCSV), http.StatusBadRequest, "a file name is"},
		{".hidden.csv", "a.csv", []byte(uploadCSV), http.StatusBadRequest, "a file name is"},
		{"notcsv.txt", "a.csv", []byte(uploadCSV), http.StatusBadRequest, "a file name is"},
		{"", "", nil, http.StatusBadRequest, "choose a CSV file"},
		{"big.csv", "big.csv", []byte(strings.Repeat("x", 4096+2<<20)), http.StatusRequestEntityTooLarge, "larger than 4096 bytes"},
	} {
		p := b.upload("/console/upload", map[string]string{"csrf": csrf, "name": c.name}, c.file, c.content)
		if p.status != c.status || !strings.Contains(text(p.one(t, "error")), c.want) {
			t.Errorf("upload %q: %d, want %d %q\n%s", c.name, p.status, c.status, c.want, p.body)
		}
	}
	if _, err := os.Stat(filepath.Join(e.inbox, "escape.csv")); !os.IsNotExist(err) {
		t.Error("a file escaped the inbox")
	}
	if p := b.upload("/console/upload", map[string]string{"name": "a.csv"}, "a.csv", []byte(uploadCSV)); p.status != http.StatusForbidden {
		t.Errorf("upload without csrf: %d", p.status)
	}
	v := e.as(t, "viewer")
	vp := v.get("/console/files")
	if len(find(vp.doc, withAttr("id", "upload-form"))) != 0 {
		t.Error("a viewer is offered the upload")
	}
	if p := v.upload("/console/upload", map[string]string{"csrf": vp.csrf(t), "name": "v.csv"}, "v.csv", []byte(uploadCSV)); p.status != http.StatusForbidden {
		t.Errorf("viewer upload: %d", p.status)
	}
	if p := e.browser(t).upload("/console/upload", map[string]string{"csrf": "x"}, "v.csv", []byte(uploadCSV)); p.status != http.StatusSeeOther {
		t.Errorf("upload without a session: %d", p.status)
	}
}

func inputNamedAny(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == "input" }

// TestFilesPage: the imports with their counts and state, a file's rejects shown
// and downloaded (PINs masked), a file refused whole with its reason.
func TestFilesPage(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(e.inbox, "orders.csv"), []byte(uploadCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.inbox, "broken.csv"), []byte("nonsense,columns\n1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	if _, err := importer.New(e.db, log, importer.Options{}).ImportInbox(ctx, e.inbox, 0); err != nil {
		t.Fatal(err)
	}
	all, err := ops.ImportFiles(ctx, e.db, "", 0, 10)
	if err != nil || len(all) != 2 {
		t.Fatalf("imports: %+v, %v", all, err)
	}
	var orders, broken ops.ImportedFile
	for _, f := range all {
		if strings.HasPrefix(f.Name, "orders") {
			orders = f
		} else {
			broken = f
		}
	}
	b := e.as(t, "viewer")
	p := b.get("/console/files")
	if p.status != http.StatusOK {
		t.Fatalf("files: %d\n%s", p.status, p.body)
	}
	row := text(find(p.one(t, "files"), withAttr("data-file", fmt.Sprint(orders.ID)))[0])
	if !strings.Contains(row, "IMPORTED 2 0 2") {
		t.Errorf("orders row: %s", row)
	}
	if got := text(p.one(t, "failed")); !strings.Contains(got, "broken") || !strings.Contains(got, broken.Error) || broken.Error == "" {
		t.Errorf("failed files: %s (reason %q)", got, broken.Error)
	}
	if got := text(p.one(t, "backlog")); !strings.Contains(got, "0 files wait to be imported, 0 being imported, 1 refused whole") {
		t.Errorf("backlog: %s", got)
	}
	if p := b.get("/console/files?state=FAILED"); len(find(p.one(t, "files"), hasAttr("data-file"))) != 1 {
		t.Errorf("state=FAILED lists %d", len(find(p.one(t, "files"), hasAttr("data-file"))))
	}
	p = b.get(fmt.Sprintf("/console/files/%d", orders.ID))
	rej := text(p.one(t, "rejects"))
	if p.status != http.StatusOK || !strings.Contains(rej, "SC-NOPE-2") || strings.Contains(p.body, "4321") || !strings.Contains(rej, ops.MaskedPIN) {
		t.Errorf("file page: %d %s", p.status, rej)
	}
	p = b.get(attr(p.one(t, "download"), "href"))
	if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(p.header.Get("Content-Disposition"), "attachment") || strings.Contains(p.body, "4321") ||
		!strings.Contains(p.body, "set_pin,SC-NOPE-1,****,UP-1,") {
		t.Errorf("download: %d %v\n%s", p.status, p.header, p.body)
	}
	if p := b.get(fmt.Sprintf("/console/files/%d", broken.ID)); !strings.Contains(text(p.one(t, "fields")), broken.Error) {
		t.Errorf("refused file's reason not shown:\n%s", p.body)
	}
	for path, want := range map[string]int{"/console/files/999999": 404, "/console/files/x": 404, "/console/files?state=NOPE": 400, "/console/files?before=-1": 400} {
		if p := b.get(path); p.status != want {
			t.Errorf("%s: %d, want %d", path, p.status, want)
		}
	}
}
