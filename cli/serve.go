package cli

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/api"
)

const serveUsage = `serve [flags]

Serves the CRM's Web API (see README.md, "Web API") until SIGINT or SIGTERM, then
finishes the calls in progress and exits. Requests created with process_immediately
are sent to the CAS gateway during the call (CAS_GATEWAY_URL, CAS_GATEWAY_TOKEN,
CAS_DESTINATION_ID; without them they wait for the next processing run). Callers need
a token: provisioner tokens create NAME.`

// Timeouts of the server. A call with process_immediately waits for the gateway, up
// to --batch-timeout: the write timeout allows for it.
const (
	serveReadHeaderTimeout = 5 * time.Second
	serveReadTimeout       = 15 * time.Second
	serveIdleTimeout       = 2 * time.Minute
	serveWriteMargin       = 15 * time.Second
)

func runServe(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "serve", serveUsage)
	dbf := addDBFlags(fs)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on (host:port)")
	maxBody := fs.Int64("max-body", api.DefaultMaxBody, "largest request body taken, in bytes (larger: 413)")
	g := addGatewayFlags(fs) // for process_immediately
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("serve takes no arguments, got %q", fs.Args())
	case *maxBody < 1024:
		return usagef("--max-body %d: must be at least 1024", *maxBody)
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

	srv := &http.Server{
		Handler:           api.New(db, log, api.Options{Dispatcher: sender, MaxBody: *maxBody}).Handler(),
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
	log.WithField("addr", ln.Addr().String()).Info("serving the Web API")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
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

// newStdLogger routes net/http's own messages (a broken connection, a bad TLS
// handshake) to the log, as warnings.
func newStdLogger(log *logrus.Logger) *stdlog.Logger {
	return stdlog.New(log.WriterLevel(logrus.WarnLevel), "", 0)
}
