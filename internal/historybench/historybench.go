package historybench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/internal/samplegen"
	"github.com/provisioner/provisioner/reference"
	"github.com/provisioner/provisioner/store"
)

// Config says what to run.
type Config struct {
	// Sizes are the settled requests already in the table, one database each; the
	// first is the baseline the others are compared with (normally 0).
	Sizes []int64
	// Rounds: each figure is measured this many times on every database, the
	// databases alternating within a round; the table shows medians.
	Rounds int
	// Cards is the fleet: subscriptions, each with one smartcard and one STB.
	Cards int
	// Days over which the history is spread, oldest first.
	Days int
	// ImportRows: the rows of the instruction file each round imports; the
	// processing run then sends them.
	ImportRows int
	// CreateTime: how long the Web API creates at Concurrency on each database per
	// round, cut into CreateSlices slices alternated between the databases (the first
	// slice of each, then the second of each, ...), so that a burst of load on the
	// shared machine falls on every database alike; Shows: its shows, one at a time.
	CreateTime                       time.Duration
	CreateSlices, Shows, Concurrency int
	// Reads: how many times each operator's read is timed per round.
	Reads int
	// ReadsOnly: each round times the operator's reads alone (no import, run or
	// Web API, no housekeeping): for working on the reads against kept databases.
	ReadsOnly bool
	// Prefix names the databases: Prefix_0, Prefix_1, ... (default
	// provisioner_bench_history), so that two benches on one server do not share them.
	Prefix string
	// HousekeepAge: housekeeping deletes the requests settled longer ago than this;
	// the processing run is timed while it runs on the largest history (0: not
	// measured).
	HousekeepAge time.Duration

	// ServerURL is a postgres:// URL of any database on the server; the bench's
	// databases are created beside it and dropped at the end.
	ServerURL string
	// Cluster, when set, is a directory where the bench runs a PostgreSQL cluster
	// of its own (made there, or started again after a Keep run) with the settings
	// docs/operating.md recommends (clusterSettings), instead of ServerURL's server;
	// thrown away at the end unless Keep.
	Cluster string
	TempDir string
	Keep    bool // keep the databases and the work directory
	// Reuse: databases kept by an earlier run (Keep) with the same fleet and
	// history are migrated and used as they are, instead of filled again: for
	// measuring a change of the code without waiting for the fill.
	Reuse    bool
	Progress io.Writer // what is going on, as it goes
}

// DefaultSizes are the histories of the issue: none, 1M and 10M settled requests.
var DefaultSizes = []int64{0, 1_000_000, 10_000_000}

// ParseSizes reads "0,1M,10M" (or plain numbers, k and M suffixes).
func ParseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mul := int64(1)
		switch {
		case strings.HasSuffix(f, "M"):
			mul, f = 1_000_000, strings.TrimSuffix(f, "M")
		case strings.HasSuffix(f, "k"):
			mul, f = 1_000, strings.TrimSuffix(f, "k")
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("size %q: want a whole number, with k or M if you like", f)
		}
		if len(out) > 0 && n*mul <= out[len(out)-1] {
			return nil, fmt.Errorf("sizes %q: want them increasing", s)
		}
		out = append(out, n*mul)
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("sizes %q: want a baseline and at least one more", s)
	}
	return out, nil
}

// target is one database of the bench: a history of size settled requests.
type target struct {
	size  int64
	name  string
	url   string
	db    *store.DB
	raw   *sql.DB
	token string
	// Probes for the operator's reads, taken from the history.
	card, subscription, refNumber string
	day                           time.Time
	numbers                       [2]int64 // the range of numbers to show
	reused                        bool
}

type bench struct {
	cfg     Config
	logf    func(string, ...any)
	work    string
	ref     string
	log     logrus.FieldLogger
	targets []*target
	fig     figures
	loads   []float64 // the 1-minute load average, sampled during the rounds
	// nonce seeds the files: another run on reused databases imports new content,
	// not duplicates of the last run's.
	nonce uint64
	// server: the server's settings that matter here (serverSettings), for the table.
	server string
}

// Run runs the bench and prints its table to out.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if len(cfg.Sizes) < 2 || cfg.Rounds < 1 || cfg.Cards < 100 || cfg.Days < 1 || cfg.ImportRows < 1 ||
		cfg.CreateTime < time.Second || cfg.CreateSlices < 1 || cfg.Shows < 1 || cfg.Concurrency < 1 || cfg.Reads < 1 {
		return fmt.Errorf("historybench: config %+v out of range", cfg)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "provisioner_bench_history"
	}
	b := &bench{cfg: cfg, logf: func(format string, args ...any) {
		fmt.Fprintf(cfg.Progress, "bench-history: "+format+"\n", args...)
	}, fig: figures{}, nonce: uint64(time.Now().UnixNano())}
	l := logrus.New()
	l.SetOutput(io.Discard)
	b.log = l
	started := time.Now()
	var err error
	if b.work, err = os.MkdirTemp(cfg.TempDir, "provisioner-bench-history-"); err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	if cfg.Keep {
		b.logf("keeping the work directory %s", b.work)
	} else {
		defer os.RemoveAll(b.work)
	}
	if cfg.Cluster != "" {
		done, err := b.openCluster(cfg.Cluster)
		if err != nil {
			return err
		}
		defer done()
	}
	b.server = b.settings(ctx)
	defer b.teardown()
	if err := b.setup(ctx); err != nil {
		return err
	}
	for r := range cfg.Rounds {
		if err := b.round(ctx, r); err != nil {
			return err
		}
	}
	var hk *housekeepingFigures
	if cfg.HousekeepAge > 0 && !cfg.ReadsOnly {
		if hk, err = b.housekeeping(ctx); err != nil {
			return err
		}
	}
	b.print(out, hk, time.Since(started))
	return nil
}

// setup creates one database per size, migrated, with the fleet loaded and the
// history filled.
func (b *bench) setup(ctx context.Context) error {
	b.ref = filepath.Join(b.work, "reference")
	if _, err := samplegen.WriteReference(b.ref, samplegen.Config{Subscriptions: b.cfg.Cards}); err != nil {
		return err
	}
	admin, err := sql.Open("postgres", b.cfg.ServerURL)
	if err != nil {
		return fmt.Errorf("open server: %w", err)
	}
	defer admin.Close()
	var first *target
	for i, size := range b.cfg.Sizes {
		t := &target{size: size, name: fmt.Sprintf("%s_%d", b.cfg.Prefix, i)}
		b.targets = append(b.targets, t)
		var err error
		if t.url, err = withDatabase(b.cfg.ServerURL, t.name); err != nil {
			return err
		}
		if b.cfg.Reuse && b.reusable(ctx, t) {
			t.reused = true
			if _, _, err := store.Migrate(ctx, t.url); err != nil {
				return err
			}
			b.logf("database %s reused (%d settled requests before the bench's work)", t.name, size)
			continue
		}
		q := pq.QuoteIdentifier(t.name)
		create := "CREATE DATABASE " + q
		if first == nil && i > 0 {
			return fmt.Errorf("-reuse: database %s is reusable but %s is not: run without -reuse", b.targets[0].name, t.name)
		}
		if first != nil {
			// The fleet, migrated and loaded once: the others start as its copy.
			create += " TEMPLATE " + pq.QuoteIdentifier(first.name)
		}
		for _, s := range []string{"DROP DATABASE IF EXISTS " + q + " WITH (FORCE)", create} {
			if _, err := admin.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("create database %s: %w", t.name, err)
			}
		}
		if first == nil {
			if _, _, err := store.Migrate(ctx, t.url); err != nil {
				return err
			}
			db, err := store.Open(ctx, t.url, store.Options{StatementTimeout: -1})
			if err != nil {
				return err
			}
			tm := time.Now()
			if _, err := reference.Load(ctx, db, b.ref); err != nil {
				db.Close()
				return fmt.Errorf("load the fleet: %w", err)
			}
			_, err = db.ExecContext(ctx, "VACUUM ANALYZE")
			db.Close()
			if err != nil {
				return err
			}
			b.logf("fleet of %d cards loaded in %v", b.cfg.Cards, time.Since(tm).Round(time.Second))
			first = t
		}
	}
	for _, t := range b.targets {
		var err error
		// As the commands open it; no statement timeout for the fill and the reads.
		if t.db, err = store.Open(ctx, t.url, store.Options{StatementTimeout: -1, Conns: 16}); err != nil {
			return err
		}
		t.raw = t.db.DB.DB
		if !t.reused {
			tm := time.Now()
			if err := fill(ctx, t.raw, t.size, b.cfg.Days, b.cfg.Cards, b.logf); err != nil {
				return err
			}
			if _, err := t.raw.ExecContext(ctx, `CREATE TABLE bench_history AS SELECT $1::bigint AS size, $2::int AS cards, $3::int AS days`,
				t.size, b.cfg.Cards, b.cfg.Days); err != nil {
				return fmt.Errorf("mark %s: %w", t.name, err)
			}
			b.logf("database %s: %d settled requests in %v", t.name, t.size, time.Since(tm).Round(time.Second))
		}
		if err := b.probes(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// probes picks what the operator's reads look for: a card and a subscription with
// history, a reference number, a day in the middle of the history.
func (b *bench) probes(ctx context.Context, t *target) error {
	rng := rand.New(rand.NewPCG(uint64(t.size), 7))
	c := 1 + rng.IntN(b.cfg.Cards)
	t.card = fmt.Sprintf("SC%010d", c)
	t.subscription = fmt.Sprintf("SUB%08d", 1+rng.IntN(b.cfg.Cards))
	t.refNumber = "GW-" + strconv.FormatInt(max(1, t.size/2)+1, 10)
	if t.size/2%33 == 32 {
		t.refNumber = "GW-" + strconv.FormatInt(t.size/2+2, 10)
	}
	t.day = time.Now().UTC().Add(-time.Duration(b.cfg.Days) * 24 * time.Hour / 2).Truncate(24 * time.Hour)
	return t.raw.QueryRowContext(ctx, `SELECT coalesce(min(number), 1), coalesce(max(number), 1) FROM provisioning_requests`).
		Scan(&t.numbers[0], &t.numbers[1])
}

func (b *bench) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, t := range b.targets {
		if t.db != nil {
			t.db.Close()
		}
	}
	if b.cfg.Keep {
		b.logf("keeping the databases %s_*", b.cfg.Prefix)
		return
	}
	admin, err := sql.Open("postgres", b.cfg.ServerURL)
	if err != nil {
		return
	}
	defer admin.Close()
	for _, t := range b.targets {
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(t.name)+" WITH (FORCE)"); err != nil {
			b.logf("could not drop %s: %v", t.name, err)
		}
	}
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

func cpus() int { return runtime.NumCPU() }

// reusable says whether t's database exists with the history it should have
// (the mark fill leaves in bench_history).
func (b *bench) reusable(ctx context.Context, t *target) bool {
	db, err := sql.Open("postgres", t.url)
	if err != nil {
		return false
	}
	defer db.Close()
	var size int64
	var cards, days int
	err = db.QueryRowContext(ctx, `SELECT size, cards, days FROM bench_history`).Scan(&size, &cards, &days)
	return err == nil && size == t.size && cards == b.cfg.Cards && days == b.cfg.Days
}
