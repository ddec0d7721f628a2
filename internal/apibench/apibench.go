package apibench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lib/pq"

	"github.com/provisioner/provisioner/internal/procwatch"
	"github.com/provisioner/provisioner/internal/samplegen"
)

// Config says what to run.
type Config struct {
	Rounds      int           // pgbench, creates and immediate calls each run this many times, alternating
	Duration    time.Duration // of each pgbench and creates measurement
	Concurrency int           // callers at once, and pgbench's clients
	Immediate   int           // process_immediately calls per round
	Cards       int           // smartcards of the generated fleet
	Scale       int           // pgbench -i -s

	// ServerURL is a postgres:// URL of any database on the server; the bench
	// databases are created beside it (and dropped at the end).
	ServerURL string
	Database  string // the provisioner's; pgbench's is Database + "_pgbench"

	Provisioner string // the provisioner binary
	// Base, when set, is another build of the provisioner (the one before a change):
	// a second serve of it, on the same database, takes every other immediate call,
	// so that both builds' latencies are measured in the same run, call by call.
	Base      string
	Simulator string // cas-simulator
	Pgbench   string // pgbench
	Keep      bool   // keep the databases and the work directory
	// LogStatements has PostgreSQL log every statement of the bench database with
	// its duration (log_min_duration_statement = 0, for that database only): to see
	// where a call's time goes, in the server's log.
	LogStatements bool

	Progress io.Writer // what is going on, as it goes
}

// The simulator's credentials: any will do, the two processes are the bench's.
const (
	gatewayToken = "bench-gateway-token"
	destination  = "BENCH"
)

type bench struct {
	cfg      Config
	logf     func(format string, args ...any)
	work     string
	dbURL    string
	pgURL    string // pgbench's database
	env      []string
	token    string // the Web API token
	apiURL   string
	serve    *exec.Cmd
	base     *exec.Cmd // the base build's serve (Config.Base), or nil
	baseURL  string
	sim      *exec.Cmd
	pgPID    int      // the postmaster; 0 if unknown
	cards    []string // serial numbers of smartcards on an ACTIVE subscription
	products []string // service codes
	next     int      // the next card an immediate call uses
	client   *http.Client
}

// Run runs the benchmark and writes its report to out.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	switch {
	case cfg.Rounds < 1, cfg.Duration <= 0, cfg.Concurrency < 1, cfg.Immediate < 1, cfg.Cards < 100, cfg.Scale < 1:
		return fmt.Errorf("rounds %d, duration %v, concurrency %d, immediate %d, cards %d, scale %d: each must be positive (cards at least 100)",
			cfg.Rounds, cfg.Duration, cfg.Concurrency, cfg.Immediate, cfg.Cards, cfg.Scale)
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	b := &bench{cfg: cfg, logf: func(format string, args ...any) {
		fmt.Fprintf(cfg.Progress, "apibench: "+format+"\n", args...)
	}}
	for _, bin := range []*string{&b.cfg.Provisioner, &b.cfg.Simulator, &b.cfg.Pgbench, &b.cfg.Base} {
		if *bin == "" {
			continue // no base build
		}
		path, err := exec.LookPath(*bin)
		if err != nil {
			return fmt.Errorf("find %s: %w", *bin, err)
		}
		*bin = path
	}
	var err error
	if b.dbURL, err = withDatabase(cfg.ServerURL, cfg.Database); err != nil {
		return err
	}
	if b.pgURL, err = withDatabase(cfg.ServerURL, cfg.Database+"_pgbench"); err != nil {
		return err
	}
	if b.work, err = os.MkdirTemp("", "provisioner-apibench-"); err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	if cfg.Keep {
		b.logf("keeping the work directory %s", b.work)
	} else {
		defer os.RemoveAll(b.work)
	}
	started := time.Now()
	rep := &report{cfg: cfg, cpus: runtime.NumCPU()}
	defer b.teardown()
	if err := b.setup(ctx, rep); err != nil {
		return err
	}
	if err := b.rounds(ctx, rep); err != nil {
		return err
	}
	rep.total = time.Since(started)
	rep.print(out)
	return nil
}

// setup creates both databases, the provisioner's as an operator would with the
// real binary, and starts the simulator and serve.
func (b *bench) setup(ctx context.Context, rep *report) error {
	cfg := b.cfg
	if _, err := samplegen.Generate(b.work, samplegen.Config{Rows: 1, Subscriptions: cfg.Cards, Seed: 1}); err != nil {
		return err
	}
	refDir := filepath.Join(b.work, samplegen.ReferenceDir)
	if err := b.readFleet(refDir); err != nil {
		return err
	}
	admin, err := sql.Open("postgres", cfg.ServerURL)
	if err != nil {
		return fmt.Errorf("open server: %w", err)
	}
	defer admin.Close()
	if err := admin.QueryRowContext(ctx, "SELECT current_setting('server_version')").Scan(&rep.pgVersion); err != nil {
		return fmt.Errorf("connect to server (run scripts/ensure-postgres.sh): %w", err)
	}
	if err := admin.QueryRowContext(ctx, "SELECT current_setting('synchronous_commit')").Scan(&rep.syncCommit); err != nil {
		return fmt.Errorf("read synchronous_commit: %w", err)
	}
	for _, db := range []string{cfg.Database, cfg.Database + "_pgbench"} {
		name := pq.QuoteIdentifier(db)
		for _, q := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "CREATE DATABASE " + name} {
			if _, err := admin.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("create database %s: %w", db, err)
			}
		}
	}
	if cfg.LogStatements {
		if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+pq.QuoteIdentifier(cfg.Database)+" SET log_min_duration_statement = 0"); err != nil {
			return fmt.Errorf("log statements: %w", err)
		}
	}
	b.env = []string{"DATABASE_URL=" + b.dbURL, "LOG_FORMAT=json", "LOG_LEVEL=warn", "PGTZ=UTC"}
	if _, err := run(ctx, b.env, b.cfg.Provisioner, "migrate"); err != nil {
		return err
	}
	if _, err := run(ctx, b.env, b.cfg.Provisioner, "reference", "load", refDir); err != nil {
		return err
	}
	tok, err := run(ctx, b.env, b.cfg.Provisioner, "tokens", "create", "bench", "--as", "apibench")
	if err != nil {
		return err
	}
	b.token = strings.TrimSpace(tok)
	if _, err := run(ctx, b.env, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", b.dbURL, "-c", "VACUUM ANALYZE"); err != nil {
		return err
	}
	b.logf("created %s: %d smartcards, migrated, reference data loaded, token issued", cfg.Database, cfg.Cards)
	t := time.Now()
	if _, err := run(ctx, nil, b.cfg.Pgbench, "-i", "-q", "-s", fmt.Sprint(cfg.Scale), b.pgURL); err != nil {
		return err
	}
	b.logf("pgbench -i -s %d in %v", cfg.Scale, time.Since(t).Round(time.Millisecond))

	db, err := sql.Open("postgres", b.dbURL)
	if err != nil {
		return fmt.Errorf("open %s: %w", cfg.Database, err)
	}
	defer db.Close()
	var backend int
	if err := db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&backend); err == nil {
		b.pgPID = procwatch.PostmasterOf(backend)
	}

	simAddr, err := freeAddr()
	if err != nil {
		return err
	}
	b.sim = exec.Command(b.cfg.Simulator, "-addr", simAddr, "-reference", refDir, "-token", gatewayToken,
		"-destination", destination, "-log-level", "error")
	if err := b.start(b.sim, "http://"+simAddr+"/sim/stats"); err != nil {
		return err
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return err
	}
	b.apiURL = "http://" + apiAddr
	serve := func(bin, addr string) *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--listen", addr, "--console=false")
		cmd.Env = append(os.Environ(), append(b.env, "CAS_GATEWAY_URL=http://"+simAddr,
			"CAS_GATEWAY_TOKEN="+gatewayToken, "CAS_DESTINATION_ID="+destination)...)
		return cmd
	}
	b.serve = serve(b.cfg.Provisioner, apiAddr)
	if err := b.start(b.serve, b.apiURL+"/healthz"); err != nil {
		return err
	}
	if b.cfg.Base != "" {
		baseAddr, err := freeAddr()
		if err != nil {
			return err
		}
		b.baseURL = "http://" + baseAddr
		b.base = serve(b.cfg.Base, baseAddr)
		if err := b.start(b.base, b.baseURL+"/healthz"); err != nil {
			return err
		}
		b.logf("the base build's serve (%s) on %s", b.cfg.Base, baseAddr)
	}
	b.client = &http.Client{Transport: &http.Transport{
		MaxIdleConns: 4 * cfg.Concurrency, MaxIdleConnsPerHost: 4 * cfg.Concurrency, IdleConnTimeout: time.Minute,
	}, Timeout: time.Minute}
	b.logf("cas-simulator on %s, provisioner serve on %s", simAddr, apiAddr)
	return nil
}

// readFleet reads the smartcards whose subscription is ACTIVE, and the services.
func (b *bench) readFleet(dir string) error {
	read := func(name string) ([][]string, error) {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return recs[1:], nil
	}
	subs, err := read("subscriptions.csv")
	if err != nil {
		return err
	}
	active := map[string]bool{}
	for _, r := range subs {
		active[r[0]] = r[1] == "ACTIVE"
	}
	cards, err := read("smartcards.csv")
	if err != nil {
		return err
	}
	for _, r := range cards {
		if active[r[3]] {
			b.cards = append(b.cards, r[0])
		}
	}
	products, err := read("products.csv")
	if err != nil {
		return err
	}
	for _, r := range products {
		if r[2] == "SERVICE" {
			b.products = append(b.products, r[0])
		}
	}
	if len(b.cards) < 100 || len(b.products) == 0 {
		return fmt.Errorf("generated fleet: %d active cards, %d services", len(b.cards), len(b.products))
	}
	return nil
}

// start starts a child and waits until url answers 200.
func (b *bench) start(cmd *exec.Cmd, url string) error {
	stderr := &tailWriter{}
	cmd.Stderr = stderr
	// The children go with the bench, even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer on %s within 30s:\n%s", cmd.Path, url, stderr.String())
}

func (b *bench) teardown() {
	for _, c := range []*exec.Cmd{b.serve, b.base, b.sim} {
		if c != nil && c.Process != nil {
			c.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				c.Process.Kill()
				<-done
			}
		}
	}
	if b.cfg.Keep {
		b.logf("keeping the databases %s and %s_pgbench", b.cfg.Database, b.cfg.Database)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("postgres", b.cfg.ServerURL)
	if err != nil {
		return
	}
	defer admin.Close()
	for _, db := range []string{b.cfg.Database, b.cfg.Database + "_pgbench"} {
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(db)+" WITH (FORCE)"); err != nil {
			b.logf("could not drop %s: %v", db, err)
		}
	}
}

// run runs a child to its end and returns its standard output; the error carries
// its standard error.
func run(ctx context.Context, env []string, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// withDatabase returns serverURL naming database name instead.
func withDatabase(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("server URL %q: want postgres://user@host:port/database", serverURL)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// tailWriter keeps the last 8 KB written: a child's log, for its error.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > 8<<10 {
		w.buf = append([]byte(nil), w.buf[len(w.buf)-8<<10:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
