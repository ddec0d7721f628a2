package console_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/net/html"

	"github.com/provisioner/provisioner/console"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/store"
)

// clock is the console's clock in a test: it moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	db    *store.DB
	srv   *httptest.Server
	clock *clock
	inbox string
}

var jobNames = []string{"import", "process", "housekeeping"}

// newEnv serves a console over real HTTP on a fresh database (pgtest), with an
// operator of each role: viewer, operator, admin; each's password is NAME-password.
func newEnv(t *testing.T, tls bool) *env {
	t.Helper()
	return newEnvWith(t, tls, nil)
}

// newEnvWith is newEnv with the console's options changed by set (nil: none); the
// console always has an inbox of its own (env.inbox).
func newEnvWith(t *testing.T, tls bool, set func(*console.Options)) *env {
	t.Helper()
	console.BcryptCost = bcrypt.MinCost // the tests sign in often; the cost is not what they test
	db, _ := pgtest.New(t)
	clk := &clock{t: time.Now()}
	log := logrus.New()
	log.SetOutput(io.Discard)
	opts := console.Options{Jobs: jobNames, Log: log, Now: clk.now, Inbox: t.TempDir()}
	if set != nil {
		set(&opts)
	}
	c := console.New(db, opts)
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(c.Handler())
	} else {
		srv = httptest.NewServer(c.Handler())
	}
	t.Cleanup(srv.Close)
	for _, role := range console.Roles {
		if err := console.CreateOperator(context.Background(), db, role, role, role+"-password", clk.now()); err != nil {
			t.Fatal(err)
		}
	}
	return &env{db: db, srv: srv, clock: clk, inbox: opts.Inbox}
}

// browser is a client with its own cookies that does not follow redirects, so that
// the tests see them.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	c := *e.srv.Client() // a copy: each browser its own cookies
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, c: &c, base: e.srv.URL}
}

type page struct {
	status int
	header http.Header
	body   string
	doc    *html.Node
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	p := page{status: resp.StatusCode, header: resp.Header, body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if p.doc, err = html.Parse(strings.NewReader(p.body)); err != nil {
			b.t.Fatalf("%s %s: not HTML: %v", req.Method, req.URL, err)
		}
	}
	return p
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// upload posts a multipart form to path: fields, and the file named file holding
// content.
func (b *browser) upload(path string, fields map[string]string, file string, content []byte) page {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if file != "" {
		fw, _ := mw.CreateFormFile("file", file)
		fw.Write(content)
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

// signIn signs in as name with password, through the sign-in form, and returns the
// page it answers.
func (b *browser) signIn(name, password string) page {
	b.t.Helper()
	return b.signInFrom("/console/login", name, password)
}

// signInFrom signs in through the sign-in page at path (with its ?next=).
func (b *browser) signInFrom(path, name, password string) page {
	b.t.Helper()
	p := b.get(path)
	if p.status != http.StatusOK {
		b.t.Fatalf("sign-in page: %d", p.status)
	}
	csrf := attr(find(p.doc, inputNamed("csrf"))[0], "value")
	next := attr(find(p.doc, inputNamed("next"))[0], "value")
	return b.post("/console/login", url.Values{"csrf": {csrf}, "username": {name}, "password": {password}, "next": {next}})
}

// as returns a browser signed in as the operator of role (newEnv's).
func (e *env) as(t *testing.T, role string) *browser {
	t.Helper()
	b := e.browser(t)
	if p := b.signIn(role, role+"-password"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/" {
		t.Fatalf("sign in as %s: %d %s\n%s", role, p.status, p.header.Get("Location"), p.body)
	}
	return b
}

// csrf reads the CSRF token of the page's first form.
func (p page) csrf(t *testing.T) string {
	t.Helper()
	ns := find(p.doc, inputNamed("csrf"))
	if len(ns) == 0 {
		t.Fatalf("no csrf field in:\n%s", p.body)
	}
	return attr(ns[0], "value")
}

// find returns the nodes of doc that match, in document order.
func find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	if n == nil {
		return nil
	}
	if match(n) {
		out = append(out, n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		out = append(out, find(c, match)...)
	}
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func withAttr(key, val string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Type == html.ElementNode && attr(n, key) == val }
}

func hasAttr(key string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		if n.Type != html.ElementNode {
			return false
		}
		for _, a := range n.Attr {
			if a.Key == key {
				return true
			}
		}
		return false
	}
}

func inputNamed(name string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		return n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") == name
	}
}

// text is the text of n and its children, spaces collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		cell := n.Type == html.ElementNode && (n.Data == "td" || n.Data == "th" || n.Data == "li")
		if cell {
			b.WriteString(" ") // cells read apart, as a browser shows them
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
		if cell {
			b.WriteString(" ")
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// one returns the only node with id, failing the test otherwise.
func (p page) one(t *testing.T, id string) *html.Node {
	t.Helper()
	ns := find(p.doc, withAttr("id", id))
	if len(ns) != 1 {
		t.Fatalf("%d elements with id %q in:\n%s", len(ns), id, p.body)
	}
	return ns[0]
}
