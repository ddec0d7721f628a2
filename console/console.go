package console

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/store"
)

// Prefix is where `provisioner serve` mounts the console.
const Prefix = "/console/"

// DefaultIdle is how long a session lasts without a page.
const DefaultIdle = 30 * time.Minute

// The cookies: the session's secret, and the sign-in form's CSRF token (double
// submit: there is no session yet to hold it).
const (
	sessionCookie = "console_session"
	loginCookie   = "console_login"
)

// Options configure the console.
type Options struct {
	// Idle: a session ends after this long without a page (0: DefaultIdle).
	Idle time.Duration
	// Jobs: the jobs' names (jobs.Names), for the overview's last runs and the pause
	// targets (with the queue).
	Jobs []string
	// Secure sets the cookies' Secure flag even on plain HTTP: behind a reverse proxy
	// that terminates TLS. Under TLS it is always set.
	Secure bool
	Log    *logrus.Logger
	// Now is the console's clock; nil is time.Now.
	Now func() time.Time
	// Inbox is the import's inbox: the Files page's upload writes into it, the
	// overview counts its backlog, and the rejects of its files are read from its
	// rejects/ folder. "" leaves the upload, the backlog and the rejects out.
	Inbox string
	// Schedules: the jobs' schedules (from a configuration), so that the overview
	// says which job is overdue; nil when there is no configuration.
	Schedules map[string]ops.Schedule
	// MaxUpload is the largest file the upload takes, in bytes (0: DefaultMaxUpload).
	MaxUpload int64
}

// DefaultMaxUpload is the largest CSV file the Files page uploads: 32 MiB, some
// 300,000 rows; larger files go into the inbox by other means (scp, a share).
const DefaultMaxUpload = 32 << 20

// Console serves the console's pages.
type Console struct {
	db    *store.DB
	opts  Options
	pages map[string]*template.Template
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New returns the console of db.
func New(db *store.DB, opts Options) *Console {
	if opts.Idle <= 0 {
		opts.Idle = DefaultIdle
	}
	if opts.MaxUpload <= 0 {
		opts.MaxUpload = DefaultMaxUpload
	}
	if opts.Log == nil {
		opts.Log = logrus.New()
	}
	c := &Console{db: db, opts: opts, pages: map[string]*template.Template{}}
	for _, p := range []string{"login", "overview", "requests", "request", "result", "error",
		"bulk", "files", "file", "upload", "runs", "operators", "secret", "audit"} {
		c.pages[p] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html"))
	}
	return c
}

func (c *Console) now() time.Time {
	if c.opts.Now != nil {
		return c.opts.Now()
	}
	return time.Now()
}

// Handler serves the console under Prefix.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /console/login", c.loginPage)
	mux.HandleFunc("POST /console/login", c.login)
	mux.HandleFunc("POST /console/logout", c.auth(RoleViewer, c.logout))
	mux.HandleFunc("GET /console/{$}", c.auth(RoleViewer, c.overview))
	mux.HandleFunc("GET /console/requests", c.auth(RoleViewer, c.requests))
	mux.HandleFunc("GET /console/requests/{number}", c.auth(RoleViewer, c.request))
	mux.HandleFunc("POST /console/requests/{number}/{lever}", c.auth(RoleOperator, c.lever))
	mux.HandleFunc("POST /console/pause", c.auth(RoleOperator, c.pause))
	mux.HandleFunc("POST /console/resume", c.auth(RoleOperator, c.resume))
	mux.HandleFunc("GET /console/bulk", c.auth(RoleOperator, c.bulkConfirm))
	mux.HandleFunc("POST /console/bulk", c.auth(RoleOperator, c.bulk))
	mux.HandleFunc("GET /console/files", c.auth(RoleViewer, c.files))
	mux.HandleFunc("GET /console/files/{id}", c.auth(RoleViewer, c.file))
	mux.HandleFunc("GET /console/files/{id}/rejects.csv", c.auth(RoleViewer, c.rejectsCSV))
	mux.HandleFunc("POST /console/upload", c.limitBody(c.opts.MaxUpload+1<<20, c.auth(RoleOperator, c.upload)))
	mux.HandleFunc("POST /console/upload/confirm", c.auth(RoleOperator, c.uploadConfirm))
	mux.HandleFunc("GET /console/runs", c.auth(RoleViewer, c.runs))
	mux.HandleFunc("GET /console/audit", c.auth(RoleViewer, c.audit))
	mux.HandleFunc("GET /console/operators", c.auth(RoleAdmin, c.operators))
	mux.HandleFunc("POST /console/operators", c.auth(RoleAdmin, c.operatorCreate))
	mux.HandleFunc("POST /console/operators/{name}/{action}", c.auth(RoleAdmin, c.operatorAction))
	mux.HandleFunc("POST /console/tokens", c.auth(RoleAdmin, c.tokenCreate))
	mux.HandleFunc("POST /console/tokens/{name}/revoke", c.auth(RoleAdmin, c.tokenRevoke))
	return securityHeaders(mux)
}

// securityHeaders: no page may be framed (clickjacking) or sniffed, and no page
// loads anything from elsewhere: no inline script or style either (htmx is a file of
// /console/static/, its indicator styles turned off in the layout).
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		w.Header().Set("Referrer-Policy", "same-origin")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

type ctxKey struct{}

func sessionOf(r *http.Request) Session { s, _ := r.Context().Value(ctxKey{}).(Session); return s }

// auth lets through a request with a live session whose operator has role, and, for
// a POST, the session's CSRF token in the form field csrf. No session: to the
// sign-in page (303). A wrong or missing token, or too few rights: 403.
func (c *Console) auth(role string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var s Session
		ok := false
		if ck, err := r.Cookie(sessionCookie); err == nil && ck.Value != "" {
			var err error
			// The overview's automatic refresh (htmx) is not the operator at the page:
			// it does not keep the session alive.
			keep := r.Header.Get("HX-Request") != "true"
			s, ok, err = touchSession(r.Context(), c.db, ck.Value, c.now(), c.opts.Idle, keep)
			if err != nil {
				c.fail(w, r, err)
				return
			}
		}
		if !ok {
			next := ""
			if r.Method == http.MethodGet {
				next = "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			if r.Header.Get("HX-Request") == "true" {
				// htmx's refresh: a redirect would swap the sign-in page's nothing
				// into the overview; HX-Redirect sends the whole page there.
				w.Header().Set("HX-Redirect", Prefix+"login"+next)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, Prefix+"login"+next, http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !sameToken(r.PostFormValue("csrf"), s.CSRF) {
			c.refuse(w, r, s, http.StatusForbidden, "This form's security token is missing or out of date: reload the page and try again.")
			return
		}
		if !s.Can(role) {
			c.refuse(w, r, s, http.StatusForbidden, "Your role, "+s.Role+", may not do this: it needs "+role+".")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
	}
}

func sameToken(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (c *Console) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || c.opts.Secure,
	}
}

// page is what every template gets: the session (zero on the sign-in page) and the
// page's own data.
type page struct {
	Title   string
	Session Session
	Data    any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	var b strings.Builder
	if err := c.pages[name].Execute(&b, page{Title: title, Session: sessionOf(r), Data: data}); err != nil {
		c.opts.Log.WithError(err).WithField("page", name).Error("console: render")
		http.Error(w, "the page could not be drawn: see the server's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

func (c *Console) refuse(w http.ResponseWriter, r *http.Request, s Session, status int, msg string) {
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
	c.render(w, r, status, "error", http.StatusText(status), msg)
}

// fail answers an unexpected error (the database's): logged in full, said briefly.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	c.opts.Log.WithError(err).WithField("path", r.URL.Path).Error("console")
	status := http.StatusInternalServerError
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusServiceUnavailable
	}
	c.render(w, r, status, "error", "Error", "Something failed: "+err.Error())
}
