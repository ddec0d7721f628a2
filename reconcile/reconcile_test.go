package reconcile_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/testutil"
	"github.com/provisioner/provisioner/reconcile"
	"github.com/provisioner/provisioner/reference"
	"github.com/provisioner/provisioner/simulator"
	"github.com/provisioner/provisioner/store"
)

const (
	token = "test-token"
	dest  = "CRM01"
	fleet = "testdata/fleet"
	// unknownCard is in the CRM's reference data and entitlements, not the gateway's.
	unknownCard = "1000000014"
)

// env is a database with testdata/fleet loaded and a simulator, in sync with the
// entitlements, behind a real HTTP server.
type env struct {
	db  *store.DB
	sim *simulator.Simulator
	url string
}

func quiet() logrus.FieldLogger {
	log := logrus.New()
	log.SetOutput(io.Discard)
	return log
}

func newEnv(t *testing.T, cfg simulator.Config, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	db, _ := pgtest.New(t)
	res, err := reference.Load(context.Background(), db, fleet)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.Loaded {
			t.Fatalf("%s: %v", r.File, r.Bad)
		}
	}
	var known simulator.Known
	if known.Smartcards, known.STBs, known.Products, err = reference.ReadKnown(fleet); err != nil {
		t.Fatal(err)
	}
	known.Smartcards = slices.DeleteFunc(known.Smartcards, func(s string) bool { return s == unknownCard })
	entitled, err := reference.ReadEntitled(fleet)
	if err != nil {
		t.Fatal(err)
	}
	known.Entitled = slices.DeleteFunc(entitled, func(e reference.EntitledState) bool { return e.Smartcard == unknownCard })
	cfg.Token, cfg.DestinationID, cfg.Seed = token, dest, 1
	sim := simulator.New(cfg, known)
	var h http.Handler = sim
	if wrap != nil {
		h = wrap(sim)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	return &env{db: db, sim: sim, url: srv.URL}
}

func (e *env) client(t *testing.T, tok string) *dispatcher.Client {
	t.Helper()
	c, err := dispatcher.NewClient(dispatcher.GatewayConfig{URL: e.url, Token: tok, DestinationID: dest, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) reconcile(t *testing.T, opts reconcile.Options) (reconcile.Summary, error) {
	t.Helper()
	if opts.ReportsDir == "" {
		opts.ReportsDir = filepath.Join(t.TempDir(), "reports")
	}
	if opts.MaxCorrections == 0 {
		opts.MaxCorrections = -1 // the default
	}
	if !opts.Scope.All && opts.Scope.Subscription == "" && len(opts.Scope.Smartcards) == 0 {
		opts.Scope.All = true
	}
	opts.BackoffBase = 10 * time.Millisecond
	return reconcile.Run(context.Background(), e.db, e.client(t, token), quiet(), opts)
}

func (e *env) mustReconcile(t *testing.T, opts reconcile.Options) reconcile.Summary {
	t.Helper()
	sum, err := e.reconcile(t, opts)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return sum
}

func (e *env) drift(t *testing.T, card string, d simulator.Drift) {
	t.Helper()
	if err := e.sim.MakeDrift(card, d); err != nil {
		t.Fatal(err)
	}
}

// process sends every due request, as the next processing run would.
func (e *env) process(t *testing.T) dispatcher.Summary {
	t.Helper()
	d, err := dispatcher.New(e.db, e.client(t, token), quiet(), dispatcher.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func (e *env) requests(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.db.GetContext(context.Background(), &n, `SELECT count(*) FROM provisioning_requests`); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) runState(t *testing.T, id int64) string {
	t.Helper()
	var s string
	if err := e.db.GetContext(context.Background(), &s, `SELECT state FROM reconcile_runs WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	return s
}

func readReport(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// driftEveryKind makes one card drift in each way the run corrects.
func driftEveryKind(t *testing.T, e *env) {
	e.drift(t, "1000000001", simulator.Drift{Remove: []string{"P-1002"}})            // SC01: MOVIES lost
	e.drift(t, "1000000002", simulator.Drift{Add: []string{"P-1003"}})               // SC02: KIDS gained
	e.drift(t, "1000000003", simulator.Drift{STB: "7700000004"})                     // SC03 on SC04's STB; SC04 on none
	e.drift(t, "1000000005", simulator.Drift{STB: "7700000099"})                     // SC05: paired, the CRM expects none
	e.drift(t, "1000000007", simulator.Drift{Add: []string{"P-1004"}, Unpair: true}) // SC07: NEWS and unpaired
}

// TestDriftOfEveryKindCorrected: drift of every kind is found and reported, the
// corrections go out with the next processing run, and the next reconciliation finds
// the fleet in sync. The suspended subscription's card (SC13) has SPORTS on the CAS:
// the CRM expects none, whatever the file says.
func TestDriftOfEveryKindCorrected(t *testing.T) {
	e := newEnv(t, simulator.Config{}, nil)
	driftEveryKind(t, e)
	sum := e.mustReconcile(t, reconcile.Options{Force: true, ChunkSize: 3})
	want := reconcile.Counts{Checked: 14, InSync: 6, Drifted: 7, MissingProducts: 1, ExtraProducts: 3, WrongPairing: 1,
		MissingPairing: 2, ExtraPairing: 1, Unknown: 1, Corrections: 8, CorrectedCards: 7}
	if sum.Counts != want {
		t.Errorf("counts:\n got %+v\nwant %+v", sum.Counts, want)
	}
	if sum.State != reconcile.Succeeded || e.runState(t, sum.RunID) != "SUCCEEDED" {
		t.Errorf("state %s, recorded %s", sum.State, e.runState(t, sum.RunID))
	}
	testutil.Golden(t, "every_kind.csv", []byte(readReport(t, sum.Report)))
	if st, err := os.Stat(sum.Report); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("report mode: %v %v", st.Mode(), err)
	}
	if st, err := os.Stat(filepath.Dir(sum.Report)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("reports folder mode: %v %v", st.Mode(), err)
	}
	var sources []int64
	if err := e.db.SelectContext(context.Background(), &sources,
		`SELECT DISTINCT coalesce(source_reconcile_run_id, 0) FROM provisioning_requests WHERE life_cycle_state = 'PENDING' AND priority = 'REGULAR'`); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sources, []int64{sum.RunID}) {
		t.Errorf("corrections' source: %v, want run %d", sources, sum.RunID)
	}

	ps := e.process(t)
	if ps.Completed != 8 || ps.Rejected != 0 {
		t.Fatalf("processing run: %+v", ps)
	}
	again := e.mustReconcile(t, reconcile.Options{})
	if c := again.Counts; c.Drifted != 0 || c.Corrections != 0 || c.InSync != 13 || c.Unknown != 1 {
		t.Errorf("second reconciliation: %+v", c)
	}
}

// TestBusyCardsSkipped: a card with a PENDING request, due or not, is left alone.
func TestBusyCardsSkipped(t *testing.T) {
	// --all knows the busy cards from the pending set read at its start; another
	// scope asks the database chunk by chunk: both skip them.
	for _, tc := range []struct {
		name  string
		scope reconcile.Scope
		busy  int
	}{
		{"all", reconcile.Scope{All: true}, 2},
		{"smartcards", reconcile.Scope{Smartcards: []string{"SC01", "SC02", "SC03"}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, simulator.Config{}, nil)
			driftEveryKind(t, e)
			tomorrow := time.Now().Add(24 * time.Hour)
			pgtest.Requests(t, e.db, pgtest.RequestOpts{Smartcard: "1000000001"},
				pgtest.RequestOpts{Smartcard: "1000000002", ScheduledDate: &tomorrow})
			sum := e.mustReconcile(t, reconcile.Options{Scope: tc.scope, Force: true})
			if c := sum.Counts; c.Busy != tc.busy {
				t.Errorf("busy %d, want %d: %+v", c.Busy, tc.busy, c)
			}
			if c := sum.Counts; tc.scope.All && (c.Checked != 12 || c.MissingProducts != 0 || c.Corrections != 6) {
				t.Errorf("counts: %+v", c)
			}
			rep := readReport(t, sum.Report)
			for _, want := range []string{"SC01,S01,BUSY,,,skipped: a request is pending,", "SC02,S02,BUSY,"} {
				if !strings.Contains(rep, want) {
					t.Errorf("report lacks %q:\n%s", want, rep)
				}
			}
		})
	}
}

// TestSafetyCap: corrections over --max-corrections create nothing and say the
// figure; --force passes the cap; a dry run creates nothing either.
func TestSafetyCap(t *testing.T) {
	e := newEnv(t, simulator.Config{}, nil)
	driftEveryKind(t, e)

	dry := e.mustReconcile(t, reconcile.Options{DryRun: true, Force: true})
	if dry.Counts.Corrections != 8 || e.requests(t) != 0 || !strings.Contains(readReport(t, dry.Report), "ADD_PRODUCTS (dry run),") {
		t.Errorf("dry run: %+v, %d requests", dry.Counts, e.requests(t))
	}

	capped := e.mustReconcile(t, reconcile.Options{})
	if !capped.Capped || capped.State != reconcile.Capped || e.runState(t, capped.RunID) != "CAPPED" {
		t.Errorf("not capped: %+v", capped)
	}
	if n := e.requests(t); n != 0 {
		t.Errorf("capped run created %d requests", n)
	}
	if msg := capped.CapMessage(); !strings.Contains(msg, "7 of the 14 cards checked (50.00%), more than --max-corrections 5.00%") {
		t.Errorf("cap message: %s", msg)
	}
	rep := readReport(t, capped.Report)
	if !strings.Contains(rep, "SC01,S01,MISSING_PRODUCTS,SPORTS;MOVIES,SPORTS,ADD_PRODUCTS (not created: over --max-corrections),\n") {
		t.Errorf("capped report:\n%s", rep)
	}

	// 7 of 14 is 50%: a cap of 50% holds, just.
	if sum := e.mustReconcile(t, reconcile.Options{MaxCorrections: 0.5}); sum.Capped || e.requests(t) != 8 {
		t.Errorf("at the cap: %+v, %d requests", sum.Counts, e.requests(t))
	}
}

func TestForcePassesTheCap(t *testing.T) {
	e := newEnv(t, simulator.Config{}, nil)
	// SC13's subscription is suspended: the CRM expects none of its services.
	e.drift(t, "1000000001", simulator.Drift{Remove: []string{"P-1002"}})
	if sum := e.mustReconcile(t, reconcile.Options{}); !sum.Capped || e.requests(t) != 0 {
		t.Fatalf("2 of 14 (14%%) not capped: %+v", sum)
	}
	if sum := e.mustReconcile(t, reconcile.Options{Force: true}); sum.Capped || e.requests(t) != 2 {
		t.Errorf("--force: %+v, %d requests", sum, e.requests(t))
	}
}

// TestGatewayFaultsRetried: 503 and 429 during the queries are waited out and asked
// again; the run finds what it would without them.
func TestGatewayFaultsRetried(t *testing.T) {
	e := newEnv(t, simulator.Config{Faults: simulator.Faults{Unavailable: 0.3, RateLimit: 50, RateBurst: 2, RetryAfter: 0}}, nil)
	driftEveryKind(t, e)
	sum := e.mustReconcile(t, reconcile.Options{Force: true, ChunkSize: 1, Concurrency: 4, MaxAttempts: 50})
	st := e.sim.Stats()
	if st.Faults.Unavailable == 0 || st.Faults.RateLimited == 0 {
		t.Errorf("no fault fired: %+v", st.Faults)
	}
	if c := sum.Counts; c.Drifted != 7 || c.Corrections != 8 || c.Checked != 14 {
		t.Errorf("counts: %+v", c)
	}
}

// TestRefusedStops: a 401 in the middle of the run stops it, and the corrections of
// the chunks before it are not created.
func TestRefusedStops(t *testing.T) {
	var queries atomic.Int32
	e := newEnv(t, simulator.Config{}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == casapi.PathQuery && queries.Add(1) > 2 {
				r.Header.Set(casapi.HeaderAuthorization, "Bearer revoked")
			}
			h.ServeHTTP(w, r)
		})
	})
	driftEveryKind(t, e)
	sum, err := e.reconcile(t, reconcile.Options{Force: true, ChunkSize: 2, Concurrency: 1})
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("error %v", err)
	}
	if sum.Counts.Corrections == 0 {
		t.Errorf("no correction before the 401: the test proves nothing")
	}
	if n := e.requests(t); n != 0 {
		t.Errorf("%d requests created", n)
	}
	if s := e.runState(t, sum.RunID); s != "FAILED" {
		t.Errorf("recorded %s", s)
	}
	if rep := readReport(t, sum.Report); !strings.Contains(rep, "ADD_PRODUCTS (not created: the run failed),\n") {
		t.Errorf("report:\n%s", rep)
	}
}

// TestGetFallback: a gateway without the query (405 from a 1.0 gateway's router, or
// 404) is asked card by card, and the run finds the same.
func TestGetFallback(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  simulator.Config
		wrap func(http.Handler) http.Handler
	}{
		{"405", simulator.Config{NoQuery: true}, nil},
		{"404", simulator.Config{}, func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == casapi.PathQuery {
					http.NotFound(w, r)
					return
				}
				h.ServeHTTP(w, r)
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg, tc.wrap)
			driftEveryKind(t, e)
			sum := e.mustReconcile(t, reconcile.Options{Force: true, ChunkSize: 4, GetConcurrency: 3})
			if !sum.Fallback {
				t.Error("no fallback")
			}
			if c := sum.Counts; c.Drifted != 7 || c.Corrections != 8 || c.Unknown != 1 {
				t.Errorf("counts: %+v", c)
			}
			if q := e.sim.Stats().CardsQueried; q != 0 {
				t.Errorf("%d cards queried", q)
			}
		})
	}
}

// TestUnknownAndDisabledReported: a card the gateway does not know, and one DISABLED
// on it, are reported and not corrected.
func TestUnknownAndDisabledReported(t *testing.T) {
	e := newEnv(t, simulator.Config{}, nil)
	e.drift(t, "1000000006", simulator.Drift{Disable: true, Remove: []string{"P-1001"}})
	sum := e.mustReconcile(t, reconcile.Options{Scope: reconcile.Scope{Smartcards: []string{"SC06", "SC14", "SC12"}}})
	if c := sum.Counts; c.Checked != 3 || c.Unknown != 1 || c.Disabled != 1 || c.InSync != 1 || c.Corrections != 0 {
		t.Errorf("counts: %+v", c)
	}
	want := "card,subscription,kind,expected,actual,action,request_number\n" +
		"SC06,S06,DISABLED,,,none: DISABLED on the CAS,\n" +
		"SC14,S14,UNKNOWN,,,none: the gateway does not know the card,\n"
	if got := readReport(t, sum.Report); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
}

// TestScopes: a subscription's cards, named cards; a scope naming what is not there
// is a ScopeError.
func TestScopes(t *testing.T) {
	e := newEnv(t, simulator.Config{}, nil)
	driftEveryKind(t, e)
	sum := e.mustReconcile(t, reconcile.Options{Scope: reconcile.Scope{Subscription: "S03"}, Force: true})
	if c := sum.Counts; c.Checked != 1 || c.WrongPairing != 1 || c.Corrections != 1 {
		t.Errorf("subscription S03: %+v", c)
	}
	for _, s := range []reconcile.Scope{{Subscription: "S99"}, {Smartcards: []string{"SC01", "NOPE"}}, {Smartcards: []string{"STB01"}}, {}} {
		_, err := reconcile.Run(context.Background(), e.db, e.client(t, token), quiet(), reconcile.Options{Scope: s, ReportsDir: t.TempDir()})
		var se *reconcile.ScopeError
		if !errors.As(err, &se) {
			t.Errorf("scope %+v: %v, want a ScopeError", s, err)
		}
	}
}

// TestReadAll: the bench's database-only pass reads every card with entitlements
// once, a card with several PENDING requests included (busy, not repeated).
func TestReadAll(t *testing.T) {
	e := newEnv(t, simulator.Config{}, nil)
	pgtest.Requests(t, e.db, pgtest.RequestOpts{Smartcard: "1000000001"}, pgtest.RequestOpts{Smartcard: "1000000001"},
		pgtest.RequestOpts{Smartcard: "1000000002"})
	n, err := reconcile.ReadAll(context.Background(), e.db)
	if err != nil {
		t.Fatal(err)
	}
	if n != 14 {
		t.Errorf("read %d cards, want the 14 of the entitlements", n)
	}
}
