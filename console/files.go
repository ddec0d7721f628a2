package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
)

// The Files page: the imports (ops.ImportFiles), each file's rejects (read from the
// inbox's rejects/ folder, where the importer files them: importer.RejectsPath),
// and the upload of a CSV file into the inbox, checked first by the importer's own
// dry run (importer.Options.DryRun: nothing written to the database).

// FilesPage is how many files the Files page lists; RejectsShown how many rejected
// rows a page shows (the download has them all).
const (
	FilesPage    = 50
	RejectsShown = 200
)

// UploadDir is the inbox's folder of uploads awaiting confirmation: hidden, and a
// folder, so the importer never picks its files up (it takes regular *.csv files
// of the inbox itself).
const UploadDir = ".uploads"

// uploadTTL: an upload never confirmed is removed after a day.
const uploadTTL = 24 * time.Hour

type filesData struct {
	Files   []ops.ImportedFile
	Failed  []ops.ImportedFile
	State   string
	Next    string
	Inbox   string
	Backlog *importer.Backlog
	Upload  bool // the operator may upload
	Max     int64
}

func (c *Console) files(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := filesData{State: strings.ToUpper(strings.TrimSpace(q.Get("state"))), Inbox: c.opts.Inbox,
		Upload: sessionOf(r).Can(RoleOperator) && c.opts.Inbox != "", Max: c.opts.MaxUpload}
	switch d.State {
	case "", string(importer.Imported), string(importer.Duplicate), string(importer.Refused):
	default:
		c.render(w, r, http.StatusBadRequest, "error", "Bad request", fmt.Sprintf("state %q: give IMPORTED, DUPLICATE or FAILED", d.State))
		return
	}
	before, ok := c.keyset(w, r, "before")
	if !ok {
		return
	}
	files, err := ops.ImportFiles(r.Context(), c.db, d.State, before, FilesPage+1)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if len(files) > FilesPage {
		files = files[:FilesPage]
		d.Next = fmt.Sprintf("%sfiles?state=%s&before=%d", Prefix, d.State, files[len(files)-1].ID)
	}
	d.Files = files
	if before == 0 && d.State == "" {
		if d.Failed, err = ops.ImportFiles(r.Context(), c.db, string(importer.Refused), 0, 10); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	if c.opts.Inbox != "" {
		b, err := importer.InboxBacklog(c.opts.Inbox)
		if err != nil {
			c.opts.Log.WithError(err).Warn("console: inbox backlog")
		} else {
			d.Backlog = &b
		}
	}
	c.render(w, r, http.StatusOK, "files", "Files", d)
}

// keyset reads a page's keyset position (a positive id; "" for the first page).
func (c *Console) keyset(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	v := strings.TrimSpace(r.URL.Query().Get(name))
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		c.render(w, r, http.StatusBadRequest, "error", "Bad request", fmt.Sprintf("%s: %q is not an id", name, v))
		return 0, false
	}
	return n, true
}

type fileData struct {
	File     ops.ImportedFile
	Rejects  *rejectsTable
	NoInbox  bool
	Requests string // the Requests page of its requests
}

// rejectsTable is a rejects CSV for a page: its header and rows, PINs masked.
type rejectsTable struct {
	Header []string
	Rows   [][]string
	Total  int
	Error  string
}

func (c *Console) fileOf(w http.ResponseWriter, r *http.Request) (ops.ImportedFile, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.render(w, r, http.StatusNotFound, "error", "Not found", fmt.Sprintf("%q is not a file id.", r.PathValue("id")))
		return ops.ImportedFile{}, false
	}
	f, ok, err := ops.ImportFileByID(r.Context(), c.db, id)
	if err != nil {
		c.fail(w, r, err)
		return f, false
	}
	if !ok {
		c.render(w, r, http.StatusNotFound, "error", "Not found", fmt.Sprintf("No imported file has the id %d.", id))
	}
	return f, ok
}

func (c *Console) file(w http.ResponseWriter, r *http.Request) {
	f, ok := c.fileOf(w, r)
	if !ok {
		return
	}
	d := fileData{File: f, NoInbox: c.opts.Inbox == "", Requests: fmt.Sprintf("%srequests?file=%d", Prefix, f.ID)}
	if f.RowsRejected > 0 && c.opts.Inbox != "" {
		t, err := readRejects(importer.RejectsPath(c.opts.Inbox, f.Name), RejectsShown)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			d.Rejects = &rejectsTable{Error: "its rejects file is not in the inbox's rejects/ folder (imported from elsewhere, or removed)"}
		case err != nil:
			d.Rejects = &rejectsTable{Error: err.Error()}
		default:
			d.Rejects = &t
		}
	}
	c.render(w, r, http.StatusOK, "file", "File "+f.Name, d)
}

func readRejects(path string, most int) (rejectsTable, error) {
	fh, err := os.Open(path)
	if err != nil {
		return rejectsTable{}, err
	}
	defer fh.Close()
	return parseRejects(fh, most)
}

// parseRejects reads a rejects CSV, its PIN column masked, keeping most rows.
func parseRejects(in io.Reader, most int) (rejectsTable, error) {
	var t rejectsTable
	err := eachReject(in, func(rec []string) error {
		if t.Header == nil {
			t.Header = rec
			return nil
		}
		t.Total++
		if len(t.Rows) < most {
			t.Rows = append(t.Rows, rec)
		}
		return nil
	})
	return t, err
}

// eachReject calls fn with each record of a rejects CSV, the header first, the PIN
// column masked: rejected rows hold what the files hold, a set_pin's PIN included.
func eachReject(in io.Reader, fn func([]string) error) error {
	cr := csv.NewReader(in)
	cr.FieldsPerRecord = -1
	pin, header := -1, true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read rejects: %w", err)
		}
		if header {
			header = false
			for i, h := range rec {
				if strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")), provisioning.FieldPIN) {
					pin = i
				}
			}
		} else if pin >= 0 && pin < len(rec) && rec[pin] != "" {
			rec[pin] = ops.MaskedPIN
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// rejectsCSV downloads a file's rejects, PINs masked as on every page.
func (c *Console) rejectsCSV(w http.ResponseWriter, r *http.Request) {
	f, ok := c.fileOf(w, r)
	if !ok {
		return
	}
	if c.opts.Inbox == "" {
		c.render(w, r, http.StatusNotFound, "error", "Not found", "The console was started without the inbox (serve --inbox): it cannot read rejects files.")
		return
	}
	fh, err := os.Open(importer.RejectsPath(c.opts.Inbox, f.Name))
	if errors.Is(err, fs.ErrNotExist) {
		c.render(w, r, http.StatusNotFound, "error", "Not found", fmt.Sprintf("File %d has no rejects file in the inbox's rejects/ folder.", f.ID))
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	defer fh.Close()
	name := strings.TrimSuffix(f.Name, filepath.Ext(f.Name)) + ".rejects.csv"
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	// Streamed, row by row: a rejects file may hold millions.
	cw := csv.NewWriter(w)
	if err := eachReject(fh, cw.Write); err != nil {
		c.opts.Log.WithError(err).WithField("file", f.Name).Error("console: rejects download cut short")
	}
	cw.Flush()
}

// An uploaded file's name: a plain file name ending .csv, nothing that climbs out of
// the inbox or hides in it.
var uploadNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.[cC][sS][vV]$`)

var uploadTokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

type uploadData struct {
	Name     string
	Token    string
	Size     int64
	SHA256   string
	Result   importer.Result
	Rejects  rejectsTable
	Error    string
	Previous *ops.ImportedFile
}

// limitBody caps a request's body at max bytes and reads its multipart form, before
// the session's CSRF check reads the form: a body over the cap is refused (413)
// without being read whole.
func (c *Console) limitBody(max int64, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie(sessionCookie); err != nil {
			h(w, r) // no session: auth sends it to the sign-in page, the body unread
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				c.render(w, r, http.StatusRequestEntityTooLarge, "error", "Too large",
					fmt.Sprintf("The file is larger than %d bytes, the most the console uploads (serve --console-max-upload): put it into the inbox by other means.", c.opts.MaxUpload))
				return
			}
			c.render(w, r, http.StatusBadRequest, "error", "Bad request", "The upload is not a multipart form: "+err.Error())
			return
		}
		h(w, r)
	}
}

// upload writes the file into the inbox's UploadDir (0600, under a temporary name,
// then renamed: never seen half-written) and shows the importer's dry run of it:
// how many rows it would create, and its rejects. Nothing goes into the inbox, or
// the database, until the operator confirms.
func (c *Console) upload(w http.ResponseWriter, r *http.Request) {
	if c.opts.Inbox == "" {
		c.render(w, r, http.StatusNotFound, "error", "Not found", "The console was started without the inbox (serve --inbox): it cannot upload files.")
		return
	}
	src, hdr, err := r.FormFile("file")
	if err != nil {
		c.render(w, r, http.StatusBadRequest, "upload", "Upload", uploadData{Error: "file: choose a CSV file to upload"})
		return
	}
	defer src.Close()
	d := uploadData{Name: strings.TrimSpace(r.PostFormValue("name"))}
	if d.Name == "" {
		d.Name = hdr.Filename
	}
	if !uploadNameRE.MatchString(d.Name) {
		d.Error = fmt.Sprintf("name %q: a file name is 1 to 104 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit, ending .csv", d.Name)
		c.render(w, r, http.StatusBadRequest, "upload", "Upload", d)
		return
	}
	dir := filepath.Join(c.opts.Inbox, UploadDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.fail(w, r, fmt.Errorf("upload: %w", err))
		return
	}
	c.sweepUploads(dir)
	d.Token = randomToken()
	staged := filepath.Join(dir, d.Token+".csv")
	sum, size, err := writeAtomic(staged, src)
	if err != nil {
		c.fail(w, r, fmt.Errorf("upload %s: %w", d.Name, err))
		return
	}
	d.SHA256, d.Size = sum, size
	var rejects bytes.Buffer
	im := importer.New(c.db, c.opts.Log, importer.Options{DryRun: true, RejectsOut: &rejects, Now: c.now})
	if d.Result, err = im.ImportFile(r.Context(), staged, ""); err != nil {
		os.Remove(staged)
		c.fail(w, r, err)
		return
	}
	if d.Rejects, err = parseRejects(&rejects, RejectsShown); err != nil {
		d.Rejects.Error = err.Error()
	}
	if prev, err := ops.ImportedBySHA256(r.Context(), c.db, sum); err != nil {
		c.fail(w, r, err)
		return
	} else if prev != nil {
		d.Previous = prev
	}
	c.render(w, r, http.StatusOK, "upload", "Upload "+d.Name, d)
}

// writeAtomic writes in to path with mode 0600: to path.part first, synced, then
// renamed, so that path is whole or absent. It returns the SHA-256 and the size.
func writeAtomic(path string, in io.Reader) (string, int64, error) {
	tmp := path + ".part"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), in)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// sweepUploads removes the uploads never confirmed, after uploadTTL.
func (c *Console) sweepUploads(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && c.now().Sub(info.ModTime()) > uploadTTL {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// uploadConfirm moves a checked upload into the inbox under its name, where the
// next import takes it; recorded in the audit trail. A file of that name waiting in
// the inbox is never replaced (409).
func (c *Console) uploadConfirm(w http.ResponseWriter, r *http.Request) {
	res := resultData{What: "upload", Back: Prefix + "files"}
	token, name := r.PostFormValue("token"), strings.TrimSpace(r.PostFormValue("name"))
	switch {
	case c.opts.Inbox == "":
		res.Error = "the console was started without the inbox (serve --inbox)"
	case !uploadTokenRE.MatchString(token):
		res.Error = "token: not an upload of this console: upload the file again"
	case !uploadNameRE.MatchString(name):
		res.Error = fmt.Sprintf("name %q: a file name is 1 to 104 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit, ending .csv", name)
	}
	if res.Error != "" {
		c.render(w, r, http.StatusBadRequest, "result", "Upload", res)
		return
	}
	staged := filepath.Join(c.opts.Inbox, UploadDir, token+".csv")
	dst := filepath.Join(c.opts.Inbox, name)
	info, err := os.Stat(staged)
	if errors.Is(err, fs.ErrNotExist) {
		res.Error = "this upload is gone (confirmed already, or older than a day): upload the file again"
		c.result(w, r, res)
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	// A hard link does not replace a file already there (a rename would): the
	// inbox's file of that name stays whole, and the upload is not lost.
	if err := os.Link(staged, dst); errors.Is(err, fs.ErrExist) {
		res.Error = fmt.Sprintf("a file named %s waits in the inbox already: upload this one under another name", name)
		c.result(w, r, res)
		return
	} else if err != nil {
		c.fail(w, r, fmt.Errorf("upload %s: %w", name, err))
		return
	}
	os.Remove(staged)
	s := sessionOf(r)
	if err := ops.Audit(r.Context(), c.db, ops.Actor{Operator: s.Operator, Command: "console: upload " + name}, ops.ActionUpload,
		map[string]any{"name": name, "size": info.Size(), "inbox": c.opts.Inbox}, nil, c.now()); err != nil {
		c.opts.Log.WithError(err).WithField("file", name).Error("console: upload not recorded in the audit trail")
	}
	c.opts.Log.WithField("operator", s.Operator).WithField("file", name).Info("console: file uploaded into the inbox")
	res.Changed = 1
	res.Outcomes = []outcome{{Changed: true, Detail: fmt.Sprintf("%s is in the inbox (%d bytes): the next import takes it", name, info.Size())}}
	c.result(w, r, res)
}
