package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/api"
	"github.com/provisioner/provisioner/console"
	"github.com/provisioner/provisioner/jobs"
)

const serveUsage = `serve [flags]

Serves the CRM's Web API (see README.md, "Web API") until SIGINT or SIGTERM, then
finishes the calls in progress and exits. Requests created with process_immediately
are sent to the CAS gateway during the call (CAS_GATEWAY_URL, CAS_GATEWAY_TOKEN,
CAS_DESTINATION_ID; without them they wait for the next processing run). Callers need
a token: provisioner tokens create NAME. The operator console is served under /console/
on the same listener (docs/console.md; its accounts: provisioner operators create).

show and list carry the token in the URL: plain HTTP is for loopback only. Give
--tls-cert and --tls-key to serve HTTPS, or listen on loopback behind a reverse proxy
that terminates TLS (docs/web-api.md).`

// Timeouts of the server. A call with process_immediately waits for the gateway, up
// to --batch-timeout: the write timeout allows for it.
const (
	serveReadHeaderTimeout = 5 * time.Second
	serveReadTimeout       = 15 * time.Second
	serveIdleTimeout       = 2 * time.Minute
	serveWriteMargin       = 15 * time.Second
)

// serveConns is serve's default pool: enough connections for PostgreSQL to commit
// many calls' inserts in one WAL flush (group commit), few enough for a 2-core
// server's backends not to crowd each other (measured: scripts/bench-api.sh).
const serveConns = 16

func runServe(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "serve", serveUsage)
	dbf := addDBFlags(fs)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on (host:port)")
	maxBody := fs.Int64("max-body", api.DefaultMaxBody, "largest request body taken, in bytes (larger: 413)")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this certificate file (PEM; with --tls-key)")
	tlsKey := fs.String("tls-key", "", "the private key file of --tls-cert (PEM)")
	authFailures := fs.Int("auth-failures", api.DefaultAuthFailures, "failed tokens from one address that block it (429) for --auth-window")
	authWindow := fs.Duration("auth-window", api.DefaultAuthWindow, "the window of --auth-failures, and how long a block lasts")
	withConsole := fs.Bool("console", true, "serve the operator console under /console/ (docs/console.md); --console=false leaves it out")
	consoleIdle := fs.Duration("console-idle", console.DefaultIdle, "a console session ends after this long without a page")
	consoleSecure := fs.Bool("console-secure-cookies", false, "mark the console's cookies Secure on plain HTTP too: behind a reverse proxy that terminates TLS (under --tls-cert they always are)")
	dbConns := fs.Int("db-conns", serveConns, "database connections kept open for the calls (the calls beyond it wait for one)")
	createBatch := fs.Int("create-batch", api.DefaultBatch, "the most creates written by one statement and one commit (group commit, docs/web-api.md); 1: each on its own")
	consoleInbox := fs.String("inbox", "", "the import's inbox, for the console's Files page (upload, rejects) and its backlog (default: $PROVISIONER_INBOX, else the configuration's)")
	consoleMaxUpload := fs.Int64("console-max-upload", console.DefaultMaxUpload, "the largest file the console uploads into the inbox, in bytes")
	g := addGatewayFlags(fs) // for process_immediately
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("serve takes no arguments, got %q", fs.Args())
	case *maxBody < 1024:
		return usagef("--max-body %d: must be at least 1024", *maxBody)
	case (*tlsCert == "") != (*tlsKey == ""):
		return usagef("--tls-cert and --tls-key go together: give both or neither")
	case *authFailures < 1:
		return usagef("--auth-failures %d: must be at least 1", *authFailures)
	case *authWindow < time.Second:
		return usagef("--auth-window %s: must be at least 1s", *authWindow)
	case *dbConns < 1:
		return usagef("--db-conns %d: must be at least 1", *dbConns)
	case *createBatch < 1 || *createBatch > api.MaxBatch:
		return usagef("--create-batch %d: must be 1 to %d", *createBatch, api.MaxBatch)
	case *consoleIdle < time.Minute:
		return usagef("--console-idle %s: must be at least 1m", *consoleIdle)
	case *consoleMaxUpload < 1024:
		return usagef("--console-max-upload %d: must be at least 1024", *consoleMaxUpload)
	}
	var tlsConfig *tls.Config
	if *tlsCert != "" {
		// Read now, so that a wrong file is a configuration error (exit 2) before
		// anything is served.
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return usagef("--tls-cert %s, --tls-key %s: %v", *tlsCert, *tlsKey, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	env, log, err := dbf.configure(env)
	if err != nil {
		return err
	}
	// The gateway is optional, as for the import; but a half-set configuration is a
	// mistake to name before serving.
	cfg := g.config(env)
	gateway := cfg.URL != "" || cfg.Token != "" || cfg.DestinationID != ""
	if gateway {
		if err := g.check(env); err != nil {
			return err
		}
		dbf.conns = g.opts.Conns() // the process_immediately runs
	}
	// Every connection of the pool is kept idle between calls (store.Open keeps
	// Options.Conns idle): a pool that closes what it has no room for opens a new
	// backend for a later call, which cost more than the call's own statements.
	dbf.conns = max(dbf.conns, *dbConns)
	db, err := dbf.open(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	var sender api.Sender // nil: none
	if gateway {
		d, err := g.dispatcher(env, db, log, g.opts)
		if err != nil {
			return err
		}
		sender = d
	} else {
		log.Warn("no CAS gateway configured (CAS_GATEWAY_URL, CAS_GATEWAY_TOKEN, CAS_DESTINATION_ID): process_immediately requests will wait for the next processing run")
	}

	var handler http.Handler = api.New(db, log, api.Options{
		Dispatcher: sender, MaxBody: *maxBody, AuthFailures: *authFailures, AuthWindow: *authWindow, Batch: *createBatch,
	}).Handler()
	if *withConsole {
		// The console and the Web API on one listener: /console/ is the console's,
		// every other path the API's.
		mux := http.NewServeMux()
		// The inbox and the schedules as status sees them: the flag, the
		// environment, then the configuration.
		inbox := *consoleInbox
		if inbox == "" {
			inbox = env.Getenv("PROVISIONER_INBOX")
		}
		so := statusOptions(env.now(), inbox, dbf.cfg)
		if inbox == "" && dbf.cfg != nil {
			inbox = dbf.cfg.Import.Inbox
		}
		mux.Handle(console.Prefix, console.New(db, console.Options{
			Idle: *consoleIdle, Jobs: jobs.Names(), Secure: *consoleSecure, Log: log, Now: env.Now,
			Inbox: inbox, Schedules: so.Schedules, MaxUpload: *consoleMaxUpload,
		}).Handler())
		mux.Handle("/", handler)
		handler = mux
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: serveReadHeaderTimeout,
		ReadTimeout:       serveReadTimeout,
		WriteTimeout:      g.timeout + serveWriteMargin,
		IdleTimeout:       serveIdleTimeout,
		ErrorLog:          newStdLogger(log),
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return usagef("--listen %s: %v", *listen, err)
	}
	if tlsConfig == nil && !isLoopback(ln.Addr()) {
		log.WithField("addr", ln.Addr().String()).Warn("plain HTTP on an address other than loopback: show and list carry the token in the URL; give --tls-cert and --tls-key, or listen on loopback behind a reverse proxy")
	}
	log.WithFields(logrus.Fields{"addr": ln.Addr().String(), "tls": tlsConfig != nil, "console": *withConsole}).Info("serving the Web API")
	served := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			served <- srv.ServeTLS(ln, "", "") // the certificate is in TLSConfig
			return
		}
		served <- srv.Serve(ln)
	}()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing the calls in progress")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), srv.WriteTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("Web API stopped")
	return nil
}

// isLoopback reports whether addr is a loopback address: the only one where plain
// HTTP keeps the tokens in show's and list's URLs on the host.
func isLoopback(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// newStdLogger routes net/http's own messages (a broken connection, a bad TLS
// handshake) to the log, as warnings.
func newStdLogger(log *logrus.Logger) *stdlog.Logger {
	return stdlog.New(log.WriterLevel(logrus.WarnLevel), "", 0)
}
