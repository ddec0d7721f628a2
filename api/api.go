package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/internal/recovered"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
	"github.com/provisioner/provisioner/store"
)

// Paths: the CRM's documentation puts the methods that create requests under one
// prefix and show and list under another.
const (
	CreatePrefix = "/nagravision/provisioning_requests/"
	PathShow     = "/provisioning/provisioning_requests/show"
	PathList     = "/provisioning/provisioning_requests/list"
	PathHealth   = "/healthz"
)

// DefaultMaxBody is the largest request body taken: a call with 64 services and
// long keys is a few KB.
const DefaultMaxBody = 64 << 10

// Error codes of the API's own (the instruction's come from package provisioning).
const (
	CodeOK               = "OK"
	CodeError            = "ERROR"
	CodeUnauthorized     = "E_UNAUTHORIZED"
	CodeMalformedRequest = "E_MALFORMED_REQUEST"
	CodeUnknownField     = "E_UNKNOWN_FIELD"
	CodeInvalidParameter = "E_INVALID_PARAMETER"
	CodeBodyTooLarge     = "E_BODY_TOO_LARGE"
	CodeNotFound         = "E_NOT_FOUND"
	CodeMethodNotAllowed = "E_METHOD_NOT_ALLOWED"
	CodeInternal         = "E_INTERNAL"
	CodeRequestTimeout   = "E_REQUEST_TIMEOUT"
	CodeTooManyFailures  = "E_TOO_MANY_FAILURES"
)

// Options tune a Server. The zero value is usable.
type Options struct {
	// Dispatcher sends the requests created with process_immediately during the
	// call: any Sender, usually a *dispatcher.Dispatcher. nil (or a nil pointer in
	// the interface): no gateway is configured, and they wait for the next
	// processing run.
	Dispatcher Sender
	// MaxBody is the largest request body, in bytes (default DefaultMaxBody).
	MaxBody int64
	// Now is the clock: the scheduled date of a request that gives none.
	Now func() time.Time
	// AuthFailures failed tokens from one address within AuthWindow block it for
	// AuthWindow: its calls answer 429 without touching the database (defaults
	// DefaultAuthFailures, DefaultAuthWindow).
	AuthFailures int
	AuthWindow   time.Duration
	// TokenCache is how long a token found live is taken as live without asking
	// the database again (default DefaultTokenCache; negative: ask on every call).
	// It bounds how long a revoked token may still show and list; it never creates
	// a request, since the insert checks the token itself (insert_requests.sql).
	TokenCache time.Duration
	// Batch is the most creates written by one statement, and BatchRunning how many
	// such statements of one kind (lookups, inserts) run at once; the creates that
	// arrive meanwhile wait for the next (defaults DefaultBatch,
	// DefaultBatchRunning). Batch 1: every create on its own.
	Batch, BatchRunning int
}

// Sender sends one request now, through the processing run's own code path: a
// *dispatcher.Dispatcher. The API creates requests and asks for them to be sent; it
// needs nothing else of the engine.
type Sender interface {
	RunRequest(ctx context.Context, id int64) (dispatcher.Summary, error)
}

// Server answers the Web API's calls.
type Server struct {
	db     *store.DB
	log    logrus.FieldLogger
	opts   Options
	guard  *limiter
	tokens *tokenCache
	// The group commit of the creates (batch.go): their lookups, then their inserts.
	lookups *batcher[*provisioning.Draft, *callLookup]
	inserts *batcher[toInsert, ops.Request]
}

// New returns a Server.
func New(db *store.DB, log logrus.FieldLogger, opts Options) *Server {
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AuthFailures <= 0 {
		opts.AuthFailures = DefaultAuthFailures
	}
	if opts.AuthWindow <= 0 {
		opts.AuthWindow = DefaultAuthWindow
	}
	if opts.TokenCache == 0 {
		opts.TokenCache = DefaultTokenCache
	}
	// A nil *dispatcher.Dispatcher put in the interface is no sender at all.
	if d, ok := opts.Dispatcher.(*dispatcher.Dispatcher); ok && d == nil {
		opts.Dispatcher = nil
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	opts.Batch = min(opts.Batch, MaxBatch)
	if opts.BatchRunning <= 0 {
		opts.BatchRunning = DefaultBatchRunning
	}
	s := &Server{db: db, log: log, opts: opts, guard: newLimiter(opts.AuthFailures, opts.AuthWindow, log),
		tokens: newTokenCache(opts.TokenCache)}
	s.lookups = newBatcher(opts.Batch, opts.BatchRunning, s.lookUpBatch)
	s.inserts = newBatcher(opts.Batch, opts.BatchRunning, s.insertBatch)
	return s
}

// Handler routes the API's paths. Every answer, ServeMux's own included, carries
// an X-Request-Id.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, m := range methods {
		mux.Handle("POST "+CreatePrefix+m.name, s.handle(s.limited(s.create(m))))
	}
	mux.Handle("GET "+PathShow, s.handle(s.limited(s.show)))
	mux.Handle("GET "+PathList, s.handle(s.limited(s.list)))
	mux.Handle("GET "+PathHealth, s.handle(s.health))
	mux.Handle("/", s.handle(func(w http.ResponseWriter, r *http.Request, c *call) *failure {
		// ServeMux answers a known path with the wrong method by 405 on its own, in
		// plain text; keep the envelope, and say in Allow what the path takes (GET
		// patterns take HEAD too).
		for _, p := range []string{PathShow, PathList, PathHealth} {
			if r.URL.Path == p {
				w.Header().Set("Allow", "GET, HEAD")
				return &failure{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed, desc: r.Method + " " + p + ": use GET"}
			}
		}
		if name, ok := strings.CutPrefix(r.URL.Path, CreatePrefix); ok && methodByName(name) != nil {
			w.Header().Set("Allow", "POST")
			return &failure{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed, desc: r.Method + " " + r.URL.Path + ": use POST"}
		}
		return &failure{status: http.StatusNotFound, code: CodeNotFound, desc: "no such method: " + r.URL.Path}
	}))
	return withRequestID(mux)
}

// limited refuses the calls of an address that presented too many failed tokens,
// before h reads anything, and counts the failed tokens of h's calls.
func (s *Server) limited(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) *failure {
		key := clientKey(r.RemoteAddr)
		if left := s.guard.blocked(key); left > 0 {
			return tooMany(w, left)
		}
		f := h(w, r, c)
		if f == errUnauthorized {
			s.guard.failed(key)
		}
		return f
	}
}

// call is what one call's handler learns, for its log line.
type call struct {
	xid       string // the X-Request-Id
	tokenID   int64
	tokenName string
	tokenHash string // hashToken of its token: the insert checks it again
	number    int64  // the request created or shown
}

// failure is an answer with status ERROR.
type failure struct {
	status int
	code   string
	desc   string
	data   any
	err    error // an internal error: logged, not shown
	quiet  bool  // no line of its own in the log: the limiter's window has one
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, c *call) *failure

// handle wraps a handler: it answers its failure in the envelope and logs one line
// per call (but for the calls the limiter refuses: its window has one line). The line has the path but never the query (the token is a query
// parameter of show and list) and never the body (tokens, PINs).
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := time.Now()
		c := &call{xid: requestID(r.Context())}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		f := func() (f *failure) {
			defer func() {
				if p := recover(); p != nil {
					f = &failure{err: recovered.Error(p)}
				}
			}()
			return h(rec, r, c)
		}()
		if f != nil {
			if f.err != nil {
				f.status, f.code, f.desc = http.StatusInternalServerError, CodeInternal, "internal error; the call may be repeated"
			}
			writeJSON(rec, f.status, envelope{Status: status{Code: CodeError, Message: f.code, Description: f.desc}, Data: f.data})
		}
		fields := logrus.Fields{
			"method": r.Method, "path": r.URL.Path, "status": rec.status,
			"duration_ms": time.Since(started).Milliseconds(), "remote": r.RemoteAddr,
			"x_request_id": c.xid,
		}
		if c.tokenName != "" {
			fields["token_name"] = c.tokenName
		}
		if c.number != 0 {
			fields["request_number"] = c.number
		}
		entry := s.log.WithFields(fields)
		switch {
		case f != nil && f.quiet:
		case f != nil && f.err != nil:
			entry.WithError(f.err).Error("api call failed")
		case f != nil:
			entry.WithField("error_code", f.code).Info("api call refused")
		default:
			entry.Info("api call")
		}
	})
}

type envelope struct {
	Status status `json:"status"`
	Data   any    `json:"data"`
}

type status struct {
	Code        string `json:"code"`
	Message     string `json:"message"`
	Description string `json:"description"`
}

func ok(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, envelope{Status: status{Code: CodeOK}, Data: data})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		// Plain structs of strings and numbers: cannot fail.
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request, _ *call) *failure {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return &failure{status: http.StatusServiceUnavailable, code: CodeInternal, desc: "database unreachable"}
	}
	ok(w, map[string]string{"database": "ok"})
	return nil
}

// errUnauthorized is the one answer for a missing, unknown or revoked token: which
// of the three is not said, so that the answer tells a guesser nothing.
var errUnauthorized = &failure{status: http.StatusUnauthorized, code: CodeUnauthorized, desc: "token: missing, unknown or revoked"}

// authenticate checks the token of a call and names it in c. A token found live
// within the last Options.TokenCache is not looked up again: one statement less
// per call.
func (s *Server) authenticate(ctx context.Context, secret string, c *call) *failure {
	if secret == "" {
		return errUnauthorized
	}
	hash := hashToken(secret)
	t, found := s.tokens.get(hash)
	if !found {
		var err error
		t, found, err = lookupToken(ctx, s.db, hash)
		switch {
		case err != nil:
			return &failure{err: err}
		case !found:
			return errUnauthorized
		}
		s.tokens.put(hash, t)
	}
	c.tokenName, c.tokenID, c.tokenHash = t.Name, t.ID, hash
	return nil
}
