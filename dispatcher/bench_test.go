package dispatcher

// Benchmarks of the processing run against a real PostgreSQL (a pgtest database)
// and the gateway simulator over real HTTP (an in-process httptest server), with
// a baseline measured in the same run. scripts/bench-dispatch.sh runs them:
//
//	go test -run '^$' -bench '^BenchmarkDispatch$' -benchtime 1x ./dispatcher/
//
// BenchmarkDispatch runs, alternated over DISPATCH_BENCH_ROUNDS rounds:
//
//   - e2e/batch=B: one Run (concurrency 4, batch size B) over N fresh PENDING
//     requests, the simulator without faults.
//   - baseline/batch=B: the same N requests, the run's own claim and write-back
//     (sql.ClaimRequests, sql.WriteBack, with the same Go code around them) in 4
//     goroutines that each claim a batch and write it back, every request
//     COMPLETED with a fake reference: the database's share of the work, with no
//     HTTP at all.
//   - baseline-pipelined/batch=B: the same, in the run's own shape: one goroutine
//     claims, and up to 4 batches are being written back at once.
//   - http/batch=B: the same number of commands sent to the simulator by the
//     run's Client from 4 goroutines, no database: the HTTP, JSON and simulator
//     share.
//
// and, in the same rounds:
//
//   - latency=20ms/conc=8/batch=100: one Run with concurrency 8 against the
//     simulator with Faults.Latency = 20ms, beside concurrency × batch / latency;
//   - no-latency/conc=8/batch=100: the same Run with no latency: what the machine
//     can do with the run's shape at that concurrency, its CPU the limit;
//   - floor/batch=100: the N requests claimed beforehand (untimed) and written
//     back by the run's own write-back statement from 4 goroutines, no claim and
//     no HTTP: the least database work per request any run needs, so a ceiling
//     for every figure above on this machine;
//   - latency=20ms/conc=8/sim-process/batch=100: the latency run against
//     cmd/cas-simulator in a process of its own (DISPATCH_BENCH_SIMULATOR), so
//     that the CPU time of the run, of the simulator and of PostgreSQL (its
//     backends for the bench database, from /proc) can be told apart.
//
// and, last in each round, two pairs on stale statistics (issue 15), over a table
// that also holds settled history (DISPATCH_BENCH_HISTORY COMPLETED and REJECTED
// requests of earlier files, vacuumed and analysed: a database made once and copied
// for each run), the N requests then inserted as by an import that has just
// committed (not vacuumed), and the table analysed after that ("analysed") or not
// ("stale": the statistics, the history's, say there are no PENDING requests;
// autovacuum is off for the table, so nothing analyses it in between); analysed
// first in odd rounds, stale first in even ones:
//
//   - run/analysed, run/stale (batch=100): one Run, concurrency 4, the simulator
//     without faults. The stale run's time includes the statistics refresh that Run
//     starts with (store.RefreshRequestStats: an ANALYZE here).
//   - immediate/analysed, immediate/stale (batch=100): the same, with 1 in 100 of
//     the requests process_immediately (DISPATCH_BENCH_IMMEDIATE) and a Run with
//     Options.FileID set (the importer's "send at once"), which sends those at the
//     head of their smartcard's queue (and any right behind them): its rate is
//     theirs. On the stale side the requests are written as the importer writes a
//     file, in one transaction ending with its statistics refresh
//     (store.RefreshRequestStatsTx), which is the import's time, printed apart.
//
// It prints a table with the goals (e2e ≥ 20,000 req/s and ≥ 0.8 × the higher
// baseline; latency ≥ 0.9 × theoretical; stale ≥ 0.8 × analysed, for each pair),
// the latency run's ratio to the no-latency ceiling, the CPU time per request of
// each part, and the stale runs' ANALYZE and their ratio without it.
//
// Environment (all optional):
//
//	DISPATCH_BENCH_N          requests per e2e/baseline run (default 60000)
//	DISPATCH_BENCH_LATENCY_N  requests of the latency run (default 160000)
//	DISPATCH_BENCH_ROUNDS     rounds of e2e/baseline/http (default 3)
//	DISPATCH_BENCH_EXPRESS    share of EXPRESS requests (default 0.02)
//	DISPATCH_BENCH_PER_CARD   mean requests per smartcard (default 2)
//	DISPATCH_BENCH_NOT_DUE    extra PENDING requests scheduled tomorrow, on cards of their
//	                          own, that no run may claim yet (default 0)
//	DISPATCH_BENCH_BATCHES    batch sizes of the e2e/baseline/http runs (default "100,500")
//	DISPATCH_BENCH_LATENCY_MS the gateway latency of the latency run (default 20)
//	DISPATCH_BENCH_SIMULATOR  a cas-simulator binary for the sim-process run (unset: none)
//	DISPATCH_BENCH_STALE_N    requests of the stale-statistics pairs (default DISPATCH_BENCH_N)
//	DISPATCH_BENCH_HISTORY    settled requests beside them (default 2 × DISPATCH_BENCH_STALE_N)
//	DISPATCH_BENCH_IMMEDIATE  share of process_immediately requests in the immediate pair
//	                          (default 0.01)
//	DISPATCH_BENCH_ONLY       "stale": only the stale-statistics pairs (unset: everything)
//	DISPATCH_BENCH_LOG        set: the runs' warnings and errors go to standard error

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/procwatch"
	"github.com/provisioner/provisioner/provisioning"
	"github.com/provisioner/provisioner/simulator"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

const (
	benchToken = "bench-token"
	benchDest  = "CRM01"

	goalE2E        = 20000.0 // requests/s end to end
	goalOfBaseline = 0.8     // end to end ÷ baseline
	goalOfTheory   = 0.9     // latency run ÷ concurrency × batch / latency
	goalOfAnalysed = 0.8     // run on stale statistics ÷ the same run on analysed ones
)

// benchData says which requests a run starts from.
type benchData struct {
	n       int     // due PENDING requests
	cards   int     // smartcards they are spread over
	express float64 // share of EXPRESS requests
	notDue  int     // extra requests scheduled for tomorrow
	// immediateEvery: every immediateEvery-th of the n requests has
	// process_immediately (0: none). They all come from import file benchFile.
	immediateEvery int
	// history: settled requests (COMPLETED, a few REJECTED) of earlier files, on
	// the same smartcards, vacuumed and analysed before the n are inserted (by
	// copying historyDB, made by historyTemplate). The n are then inserted as by an
	// import that has just committed: not vacuumed, and analysed only if not stale.
	history   int
	historyDB string
	// stale (with history): the table is not analysed after the n requests are
	// inserted, so that the planner's statistics, the history's, say "no PENDING
	// requests", as after a bulk import before autovacuum's ANALYZE (issue 15).
	stale bool
	// importTx (with stale): the n requests are inserted as `provisioner import`
	// writes a file: in one transaction that ends with the importer's statistics
	// refresh (store.RefreshRequestStatsTx), so that the statistics commit with the
	// rows; what the refresh took is written to *importRefresh.
	importTx      bool
	importRefresh *time.Duration
}

func benchEnvInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: want a whole number", name, v)
	}
	return n
}

func benchEnvFloat(b *testing.B, name string, def float64) float64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		b.Fatalf("%s=%q: want a number", name, v)
	}
	return f
}

func (bd benchData) String() string {
	s := fmt.Sprintf("%d requests over %d smartcards, %.1f%% EXPRESS", bd.n, bd.cards, 100*bd.express)
	if bd.immediateEvery > 0 {
		s += fmt.Sprintf(", 1 in %d process_immediately", bd.immediateEvery)
	}
	if bd.notDue > 0 {
		s += fmt.Sprintf(", plus %d not due yet", bd.notDue)
	}
	if bd.history > 0 {
		s += fmt.Sprintf(", beside %d settled ones", bd.history)
	}
	return s
}

func cardID(i int) string { return fmt.Sprintf("SC%010d", i) }

// benchKnown is what the simulator knows: every card and STB the requests name
// and the 40 products P-1000 to P-1039.
func benchKnown(cards int) simulator.Known {
	k := simulator.Known{Smartcards: make([]string, cards), STBs: make([]string, cards)}
	for i := range cards {
		k.Smartcards[i] = cardID(i)
		k.STBs[i] = fmt.Sprintf("STB%010d", i)
	}
	for p := range 40 {
		k.Products = append(k.Products, fmt.Sprintf("P-%d", 1000+p))
	}
	return k
}

// benchFile is the import file the due requests come from (source_file_id).
const benchFile = 1

// benchSQL inserts $1 requests over $2 smartcards, a $3 share of them EXPRESS, every
// $4-th process_immediately (0: none), in one statement: random cards (so a card has
// a Poisson number of requests, in random positions of the sending order), the
// command types in roughly an operator's proportions, all due now, all from import
// file benchFile.
const benchSQL = `
INSERT INTO provisioning_requests (type, priority, subscription_id, smartcard_ca_id, service_ca_ids,
                                   stb_ca_id, pin, reference, process_immediately, source_file_id, source_line)
SELECT t, CASE WHEN x < $3 THEN 'EXPRESS' ELSE 'REGULAR' END, c + 1,
       'SC' || lpad(c::text, 10, '0'),
       CASE WHEN t IN ('ADD_PRODUCTS', 'CANCEL_PRODUCTS') THEN
            (ARRAY['P-' || (1000 + i % 40), 'P-' || (1000 + (i * 7 + 3) % 40), 'P-' || (1000 + (i * 13 + 5) % 40)])[1:1 + i % 3] END,
       CASE WHEN t = 'PAIR' THEN 'STB' || lpad(c::text, 10, '0') END,
       CASE WHEN t = 'SET_PIN' THEN lpad((1 + i % 9999)::text, 4, '0') END,
       CASE WHEN i % 100 = 0 THEN 'BENCH-' || i END,
       $4::int > 0 AND i % greatest($4::int, 1) = 0,
       1, i
FROM (SELECT i, c, x,
             CASE WHEN u < 0.45 THEN 'ADD_PRODUCTS' WHEN u < 0.65 THEN 'CANCEL_PRODUCTS'
                  WHEN u < 0.75 THEN 'PAIR' WHEN u < 0.80 THEN 'UNPAIR' WHEN u < 0.85 THEN 'RESET_PIN'
                  WHEN u < 0.90 THEN 'SET_PIN' ELSE 'RESET_SMARTCARD' END AS t
      FROM (SELECT i, floor(random() * $2)::int AS c, random() AS u, random() AS x
            FROM generate_series(1, $1) i) r) g
ORDER BY i`

// benchNotDueSQL adds $1 requests scheduled for tomorrow on cards of their own
// (numbered from $2), interleaved in the sending order with the due ones: work the
// importer left for later, which every claim must step over.
const benchNotDueSQL = `
UPDATE provisioning_requests SET sequence_number = sequence_number * 2;
INSERT INTO provisioning_requests (type, subscription_id, smartcard_ca_id, scheduled_date, sequence_number, source_file_id, source_line)
SELECT 'RESET_SMARTCARD', $2 + i, 'SC' || lpad(($2 + i)::text, 10, '0'), now() + interval '1 day',
       2 * floor(random() * $3)::bigint + 1, 2, i
FROM generate_series(1, $1) i`

// benchHistorySQL inserts $1 settled requests over the $2 smartcards of benchSQL, as
// earlier processing runs left them: COMPLETED (1 in 50 REJECTED) yesterday, with
// their request and response, from import files 1000 onwards (10,000 requests a
// file), none of them due or PENDING any more.
const benchHistorySQL = `
INSERT INTO provisioning_requests (type, life_cycle_state, subscription_id, smartcard_ca_id, service_ca_ids,
                                   scheduled_date, executed_date, request, response, reference_number,
                                   error_code, error_description, process_name, process_id, source_file_id, source_line)
SELECT 'ADD_PRODUCTS', CASE WHEN i % 50 = 0 THEN 'REJECTED' ELSE 'COMPLETED' END, c + 1, card, ARRAY[p],
       now() - interval '2 days', now() - interval '1 day' + i * interval '1 ms',
       '{"command_id":"' || i || '","type":"ADD_PRODUCTS","smartcard":"' || card || '","products":["' || p || '"]}',
       CASE WHEN i % 50 = 0 THEN '{"command_id":"' || i || '","status":"REJECTED","error_code":"E_UNKNOWN_PRODUCT"}'
            ELSE '{"command_id":"' || i || '","status":"COMPLETED","reference":"GW-' || i || '"}' END,
       CASE WHEN i % 50 <> 0 THEN 'GW-' || i END,
       CASE WHEN i % 50 = 0 THEN 'E_UNKNOWN_PRODUCT' END, CASE WHEN i % 50 = 0 THEN 'unknown product' END,
       'PROVISIONING_REQUEST_PROCESSING_RUN', 1 + i / 10000, 1000 + i / 10000, 1 + i % 10000
FROM (SELECT i, c, 'SC' || lpad(c::text, 10, '0') AS card, 'P-' || (1000 + i % 40) AS p
      FROM (SELECT i, floor(random() * $2)::int AS c FROM generate_series(1, $1) i) r) g
ORDER BY i`

// historyTemplate makes a database holding only the settled history of bd, vacuumed
// and analysed, with autovacuum off for the table (so that nothing analyses it
// behind the bench's back), for benchDB to copy: inserting the history anew for
// every run took most of such a run's set-up. It is dropped when b ends; it returns
// its name.
func historyTemplate(b *testing.B, bd benchData) string {
	b.Helper()
	db, dsn := pgtest.New(b)
	defer db.Close() // a database with connections cannot be copied
	ctx := context.Background()
	for _, q := range []string{"SELECT setseed(0.2424)", "ALTER TABLE provisioning_requests SET (autovacuum_enabled = false)"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, benchHistorySQL, bd.history, bd.cards); err != nil {
		b.Fatalf("insert history: %v", err)
	}
	if _, err := db.ExecContext(ctx, "VACUUM (ANALYZE) provisioning_requests"); err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// copyDB returns a fresh copy of the database tpl, open, dropped when b ends.
func copyDB(b *testing.B, tpl string) *store.DB {
	b.Helper()
	ctx := context.Background()
	admin, err := sql.Open("postgres", pgtest.ServerURL())
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	var name string
	if err := admin.QueryRowContext(ctx, "SELECT 'provisioner_test_' || md5(random()::text)").Scan(&name); err != nil {
		b.Fatal(err)
	}
	// Retried while the template's last sessions end (PostgreSQL refuses to copy a
	// database that has connections).
	for i := 0; ; i++ {
		_, err = admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)+" TEMPLATE "+pq.QuoteIdentifier(tpl))
		if pe, ok := err.(*pq.Error); !ok || pe.Code != "55006" || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.Fatalf("copy %s: %v", tpl, err)
	}
	b.Cleanup(func() {
		if a, err := sql.Open("postgres", pgtest.ServerURL()); err == nil {
			a.Exec("DROP DATABASE IF EXISTS " + pq.QuoteIdentifier(name) + " WITH (FORCE)")
			a.Close()
		}
	})
	u, err := url.Parse(pgtest.ServerURL())
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	db, err := store.Open(ctx, u.String(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// benchDB returns a fresh database holding the requests of bd, vacuumed and
// analysed as autovacuum would leave a table after an import. With a history, a
// copy of bd.historyDB (the history, vacuumed and analysed) into which the requests
// are inserted, then analysed unless bd.stale: the two databases differ only in
// when the table was last analysed.
func benchDB(b *testing.B, bd benchData) *store.DB {
	b.Helper()
	var db *store.DB
	if bd.history > 0 {
		if bd.historyDB == "" {
			b.Fatal("benchDB: a history needs its database (historyTemplate)")
		}
		db = copyDB(b, bd.historyDB)
	} else {
		db, _ = pgtest.New(b)
	}
	ctx := context.Background()
	if bd.importTx {
		importRequests(b, db, bd)
		return db
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	insertRequests(b, conn, bd)
	if bd.notDue > 0 {
		stmts := strings.SplitN(benchNotDueSQL, ";", 2)
		if _, err := conn.ExecContext(ctx, stmts[0]); err != nil {
			b.Fatalf("make room for requests not due: %v", err)
		}
		if _, err := conn.ExecContext(ctx, stmts[1], bd.notDue, bd.cards, bd.n); err != nil {
			b.Fatalf("insert requests not due: %v", err)
		}
	}
	last := "VACUUM (ANALYZE) provisioning_requests"
	switch {
	case bd.history > 0 && bd.stale:
		last = ""
	case bd.history > 0:
		last = "ANALYZE provisioning_requests"
	}
	if last != "" {
		if _, err := conn.ExecContext(ctx, last); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// insertRequests inserts the n requests of bd (benchSQL) on one connection, with the
// same random choices every time.
func insertRequests(b *testing.B, q interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}, bd benchData) {
	b.Helper()
	ctx := context.Background()
	if _, err := q.ExecContext(ctx, "SELECT setseed(0.4242)"); err != nil {
		b.Fatal(err)
	}
	if _, err := q.ExecContext(ctx, benchSQL, bd.n, bd.cards, bd.express, bd.immediateEvery); err != nil {
		b.Fatalf("insert requests: %v", err)
	}
}

// importRequests inserts the requests of bd as the importer writes a file: one
// transaction, the statistics refreshed in it before the commit.
func importRequests(b *testing.B, db *store.DB, bd benchData) {
	b.Helper()
	ctx := context.Background()
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	insertRequests(b, tx, bd)
	c, err := store.RefreshRequestStatsTx(ctx, tx)
	if err != nil || !c.Analysed {
		b.Fatalf("the import's statistics refresh: %+v, %v; want it to analyse", c, err)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if bd.importRefresh != nil {
		*bd.importRefresh = c.Took
	}
}

// benchLogger discards the runs' logs, or with DISPATCH_BENCH_LOG writes their
// warnings and errors to standard error; hooks see every entry down to Info.
func benchLogger(hooks ...logrus.Hook) logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	for _, h := range hooks {
		l.AddHook(h)
	}
	if os.Getenv("DISPATCH_BENCH_LOG") != "" {
		l.AddHook(stderrHook{l})
	}
	return l
}

// stderrHook writes the warnings and errors of a logger to standard error.
type stderrHook struct{ l *logrus.Logger }

func (stderrHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (h stderrHook) Fire(e *logrus.Entry) error {
	line, err := h.l.Formatter.Format(e)
	if err == nil {
		_, err = os.Stderr.Write(line)
	}
	return err
}

// benchGateway serves a simulator that knows the cards of bd, with faults f.
func benchGateway(b *testing.B, bd benchData, f simulator.Faults) (*Client, *simulator.Simulator) {
	b.Helper()
	sim := simulator.New(simulator.Config{Token: benchToken, DestinationID: benchDest, Seed: 1, Faults: f}, benchKnown(bd.cards))
	srv := httptest.NewServer(sim)
	b.Cleanup(srv.Close)
	b.Cleanup(sim.Close)
	client, err := NewClient(GatewayConfig{URL: srv.URL, Token: benchToken, DestinationID: benchDest, Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(client.http.CloseIdleConnections)
	return client, sim
}

// benchExternalGateway starts the simulator binary bin (cmd/cas-simulator) in a
// process of its own, knowing the cards of bd (reference files written for it),
// with latency; it returns a client for it and a function that stops it and returns
// the CPU time it spent.
func benchExternalGateway(b *testing.B, bd benchData, latency time.Duration, bin string) (*Client, func() time.Duration) {
	b.Helper()
	dir := b.TempDir()
	k := benchKnown(bd.cards)
	var cards, stbs, products strings.Builder
	cards.WriteString("serial_number,alternative_code,ca_id,subscription_number\n")
	stbs.WriteString("serial_number,alternative_code,ca_id,subscription_number\n")
	products.WriteString("code,alternative_code,classification,ca_id\n")
	for i := range k.Smartcards {
		fmt.Fprintf(&cards, "SER%010d,,%s,S%d\n", i, k.Smartcards[i], i)
		fmt.Fprintf(&stbs, "STBSER%010d,,%s,S%d\n", i, k.STBs[i], i)
	}
	for i, p := range k.Products {
		fmt.Fprintf(&products, "PROD%d,,SERVICE,%s\n", i, p)
	}
	for name, body := range map[string]string{"smartcards.csv": cards.String(), "stbs.csv": stbs.String(), "products.csv": products.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-reference", dir, "-token", benchToken, "-destination", benchDest,
		"-latency", latency.String(), "-log-level", "error")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start the simulator: %v", err)
	}
	stopped := false
	stop := func() time.Duration {
		if stopped {
			return 0
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	b.Cleanup(func() { stop() })
	lines := bufio.NewScanner(stdout)
	var url string
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "listening on "); ok {
			url = u
			break
		}
	}
	if url == "" {
		b.Fatalf("the simulator %s did not say where it listens", bin)
	}
	go io.Copy(io.Discard, stdout)
	client, err := NewClient(GatewayConfig{URL: url, Token: benchToken, DestinationID: benchDest, Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(client.http.CloseIdleConnections)
	return client, stop
}

// checkSettled fails b unless every due request of db is settled.
func checkSettled(b *testing.B, db *store.DB, bd benchData) {
	b.Helper()
	var pending, settled int
	err := db.QueryRowContext(context.Background(), `SELECT count(*) FILTER (WHERE life_cycle_state = 'PENDING' AND scheduled_date <= now()),
		count(*) FILTER (WHERE life_cycle_state <> 'PENDING') FROM provisioning_requests`).Scan(&pending, &settled)
	if err != nil {
		b.Fatal(err)
	}
	if pending != 0 || settled != bd.n+bd.history {
		b.Fatalf("after the run: %d due requests still PENDING, %d settled; want 0 and %d", pending, settled, bd.n+bd.history)
	}
}

// immediateHeads counts the requests a run with Options.FileID = file settles in db:
// on each smartcard, the process_immediately requests of file at the head of its
// queue, and those right behind them (each becomes the head once the one before is
// settled).
func immediateHeads(b *testing.B, db *store.DB, file int64) int {
	b.Helper()
	var n int
	err := db.QueryRowContext(context.Background(), `SELECT count(*) FILTER (WHERE lead) FROM (
		SELECT bool_and(coalesce(source_file_id = $1, false) AND process_immediately AND scheduled_date <= now())
		       OVER (PARTITION BY smartcard_ca_id ORDER BY sequence_number) AS lead
		FROM provisioning_requests WHERE life_cycle_state = 'PENDING') q`, file).Scan(&n)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// pendingEstimate is the planner's estimate of the PENDING requests: what
// store.RefreshRequestStats weighs against their count.
func pendingEstimate(b *testing.B, db *store.DB) int64 {
	b.Helper()
	var raw []byte
	if err := db.QueryRowContext(context.Background(), provsql.PendingEstimate).Scan(&raw); err != nil {
		b.Fatal(err)
	}
	var plans []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		}
	}
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
		b.Fatalf("explain: %.200q: %v", raw, err)
	}
	return int64(plans[0].Plan.Rows)
}

// tableAnalyses is how many times provisioning_requests has been analysed.
func tableAnalyses(b *testing.B, db *store.DB) int64 {
	b.Helper()
	var n int64
	if err := db.QueryRowContext(context.Background(), `SELECT analyze_count + autoanalyze_count FROM pg_stat_user_tables
		WHERE relname = 'provisioning_requests'`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// refreshWatch is a log hook that catches the run's statistics refresh: Run logs
// the ANALYZE it did (store.RefreshRequestStats) with the check's duration.
type refreshWatch struct {
	mu   sync.Mutex
	took time.Duration // the whole check, ANALYZE included; 0: no ANALYZE
}

func (w *refreshWatch) Levels() []logrus.Level { return logrus.AllLevels }

func (w *refreshWatch) Fire(e *logrus.Entry) error {
	if !strings.HasPrefix(e.Message, "planner statistics were stale") {
		return nil
	}
	s, _ := e.Data["duration"].(string)
	d, err := time.ParseDuration(s)
	if err != nil {
		d = time.Nanosecond // analysed, duration unknown
	}
	w.mu.Lock()
	w.took = d
	w.mu.Unlock()
	return nil
}

func (w *refreshWatch) analysed() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.took
}

// benchResult is one measured run.
type benchResult struct {
	requests int
	elapsed  time.Duration
	batches  int
	// baseline only: time spent in the claim and write-back statements, summed over
	// the goroutines, and claims that came back short (another goroutine's
	// concurrent claim took their rows).
	claimTime, writeTime time.Duration
	claims, shortClaims  int
	// e2e only: CPU time of this process (the run and the simulator) and of
	// PostgreSQL for the bench database (-1: unknown), over the run.
	goCPU, pgCPU time.Duration
	simCPU       time.Duration // the simulator's process, when it has one
	// e2e over a history only: whether the table was analysed during the run (by
	// its statistics refresh), how long the refresh took when its log says (part of
	// elapsed), and the planner's estimate of the PENDING requests before the run.
	analysed bool
	refresh  time.Duration
	estimate int64
	// importRefresh: the statistics refresh in the import's transaction before the
	// run (importTx), not in the run's time.
	importRefresh time.Duration
}

func (r benchResult) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// runE2E performs one Run over a fresh copy of bd and returns what it measured. With
// simBin set, the gateway is that simulator binary in a process of its own (f's
// latency only). With opts.FileID set, the run sends only that file's
// process_immediately requests (immediateHeads), and its figure is theirs.
func runE2E(b *testing.B, bd benchData, opts Options, f simulator.Faults, simBin string) benchResult {
	b.Helper()
	b.StopTimer()
	db := benchDB(b, bd)
	want := bd.n
	if opts.FileID != 0 {
		want = immediateHeads(b, db, opts.FileID)
		if want == 0 {
			b.Fatalf("no process_immediately request of file %d to send", opts.FileID)
		}
	}
	var estimate, analyses int64
	if bd.history > 0 {
		analyses = tableAnalyses(b, db)
		// The case is what it says: stale statistics that RefreshRequestStats will
		// see as such (an estimate below a quarter of the count, by more than its
		// slack of 1,000 rows), or fresh ones.
		estimate = pendingEstimate(b, db)
		pending := int64(bd.n + bd.notDue)
		// Those of an import (importTx) were made fresh in its transaction.
		if stale := 4*estimate+1000 < pending; stale != (bd.stale && !bd.importTx) {
			b.Fatalf("the planner estimates %d PENDING requests of %d: statistics stale %v, want %v", estimate, pending, stale, bd.stale && !bd.importTx)
		}
	}
	var client *Client
	var sim *simulator.Simulator
	stopSim := func() time.Duration { return 0 }
	if simBin != "" {
		client, stopSim = benchExternalGateway(b, bd, f.Latency, simBin)
	} else {
		client, sim = benchGateway(b, bd, f)
	}
	refresh := &refreshWatch{}
	d, err := New(db, client, benchLogger(refresh), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	cpu := watchCPU(b, db)
	start := time.Now()
	sum, err := d.Run(context.Background())
	elapsed := time.Since(start)
	goCPU, pgCPU := cpu.Finish()
	b.StopTimer()
	simCPU := stopSim()
	if err != nil {
		b.Fatalf("run: %v", err)
	}
	if sum.Claimed != want || sum.Completed+sum.Rejected != want || sum.Retried != 0 || sum.Lost != 0 {
		b.Fatalf("run: %+v; want %d claimed and settled", sum, want)
	}
	if sim != nil {
		if st := sim.Stats(); st.CommandsReceived != want {
			b.Fatalf("simulator received %d commands, want %d", st.CommandsReceived, want)
		}
	}
	if opts.FileID != 0 {
		if left := immediateHeads(b, db, opts.FileID); left != 0 {
			b.Fatalf("after the run: %d process_immediately requests of file %d still at the head of their queue", left, opts.FileID)
		}
	} else {
		checkSettled(b, db, bd)
	}
	return benchResult{requests: want, elapsed: elapsed, batches: sum.Batches, goCPU: goCPU, pgCPU: pgCPU, simCPU: simCPU,
		analysed: bd.history > 0 && tableAnalyses(b, db) > analyses, refresh: refresh.analysed(), estimate: estimate}
}

// sqlRun is the database side of a run for the SQL-only kinds (baseline, floor): a
// fresh database holding bd, a process row, and a run with its statements prepared
// and no gateway. The caller closes the run.
func sqlRun(b *testing.B, bd benchData, batch, workers int) (*store.DB, *run, *Summary) {
	b.Helper()
	db := benchDB(b, bd)
	log := benchLogger()
	d, err := New(db, nil, log, Options{BatchSize: batch, Concurrency: workers})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	sum := &Summary{}
	if err := db.GetContext(ctx, &sum.ProcessID, provsql.StartProcess, provisioning.ProcessName, "bench", os.Getpid()); err != nil {
		b.Fatal(err)
	}
	return db, d.newRun(ctx, sum, log), sum
}

// completedOutcomes is what a run writes back for got when the gateway completes
// every command: the same request and response JSON, with a fake reference.
func completedOutcomes(got []claimed) []outcome {
	outs := make([]outcome, len(got))
	now := time.Now()
	for i := range got {
		cmd := got[i].command()
		ref := "GW-" + strconv.FormatInt(got[i].Number, 10)
		// With its row of the sends' history, as a Run writes it.
		outs[i] = outcome{state: provisioning.Completed, reference: ref, request: mustJSON(cmd),
			response: mustJSON(casapi.Result{CommandID: cmd.CommandID, Status: casapi.StatusCompleted, Reference: ref}),
			send:     attempt{kind: "completed", batchID: "bench", commandID: cmd.CommandID, sent: now, answered: now, status: 200}}
	}
	return outs
}

// watchCPU starts counting the CPU time of this process and of db's backends.
func watchCPU(b *testing.B, db *store.DB) *procwatch.CPUWatch {
	b.Helper()
	var backend int
	var database string
	if err := db.QueryRowContext(context.Background(), "SELECT pg_backend_pid(), current_database()").Scan(&backend, &database); err != nil {
		b.Fatal(err)
	}
	return procwatch.WatchCPU(backend, database)
}

// runBaseline does the run's database work with no HTTP: it claims batches with the
// run's own claim (sql.ClaimRequests) and writes them back with the run's own
// writeBack (sql.WriteBack), every request COMPLETED with a fake reference and the
// same request and response JSON a Run writes. Two shapes, both with workers
// batches at once:
//
//   - parallel (pipelined false): workers goroutines, each claiming a batch and
//     writing it back, over and over: the brief's baseline;
//   - pipelined: one goroutine claims, one batch at a time, and hands each batch to
//     a goroutine that writes it back, at most workers of them at once: the run's
//     own shape (run.loop) with the HTTP call taken out.
func runBaseline(b *testing.B, bd benchData, batch, workers int, pipelined bool) benchResult {
	b.Helper()
	b.StopTimer()
	db, r, sum := sqlRun(b, bd, batch, workers)
	var (
		settled             atomic.Int64
		claimNs, writeNs    atomic.Int64
		claims, shortClaims atomic.Int64
		batches             atomic.Int64
		failed              atomic.Pointer[error]
		wg                  sync.WaitGroup
	)
	fail := func(err error) { failed.CompareAndSwap(nil, &err) }
	claim := func() ([]claimed, bool) {
		t0 := time.Now()
		got, err := r.claim(context.Background(), batch)
		claimNs.Add(int64(time.Since(t0)))
		claims.Add(1)
		if err != nil {
			fail(err)
			return nil, false
		}
		if len(got) < batch {
			shortClaims.Add(1)
		}
		return got, true
	}
	writeBack := func(got []claimed) bool {
		outs := completedOutcomes(got)
		t1 := time.Now()
		r.writeBack(got, outs)
		writeNs.Add(int64(time.Since(t1)))
		if err := r.fatalErr(); err != nil {
			fail(err)
			return false
		}
		settled.Add(int64(len(got)))
		batches.Add(1)
		return true
	}
	// Nothing claimable while requests are left: their heads are in a batch being
	// written back, and become claimable once it is.
	idle := func() { time.Sleep(50 * time.Microsecond) }
	more := func() bool { return settled.Load() < int64(bd.n) && failed.Load() == nil }

	b.StartTimer()
	start := time.Now()
	if pipelined {
		sem := make(chan struct{}, workers)
		for more() {
			sem <- struct{}{}
			got, ok := claim()
			if !ok {
				break
			}
			if len(got) == 0 {
				<-sem
				idle()
				continue
			}
			wg.Go(func() {
				defer func() { <-sem }()
				writeBack(got)
			})
		}
	} else {
		for range workers {
			wg.Go(func() {
				for more() {
					got, ok := claim()
					if !ok {
						return
					}
					if len(got) == 0 {
						idle()
						continue
					}
					if !writeBack(got) {
						return
					}
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if p := failed.Load(); p != nil {
		b.Fatalf("baseline: %v", *p)
	}
	if sum.Completed != bd.n || sum.Lost != 0 {
		b.Fatalf("baseline: %+v; want %d completed", sum, bd.n)
	}
	checkSettled(b, db, bd)
	return benchResult{requests: bd.n, elapsed: elapsed, batches: int(batches.Load()),
		claimTime: time.Duration(claimNs.Load()), writeTime: time.Duration(writeNs.Load()),
		claims: int(claims.Load()), shortClaims: int(shortClaims.Load())}
}

// runFloor does only the last step of the run's database work: every request is
// claimed beforehand (untimed, then vacuumed), and workers goroutines write them back
// with the run's own writeBack in batches of batch, every request COMPLETED as in
// runBaseline. No claim, no HTTP: a ceiling for any processing run on this machine
// and this schema, since every request settled needs at least its write-back.
func runFloor(b *testing.B, bd benchData, batch, workers int) benchResult {
	b.Helper()
	b.StopTimer()
	db, r, sum := sqlRun(b, bd, batch, workers)
	ctx := context.Background()
	var all []claimed
	if err := db.SelectContext(ctx, &all, `UPDATE provisioning_requests
	    SET claimed_by = $1, lease_expires_at = now() + interval '1 hour'
	    RETURNING id, number, type, priority, sequence_number, smartcard_ca_id,
	              coalesce(service_ca_ids, '{}') AS service_ca_ids, coalesce(stb_ca_id, '') AS stb_ca_id,
	              coalesce(pin, '') AS pin, attempts, command_generation, 0 AS rank, 0 AS ord`, sum.ProcessID); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "VACUUM (ANALYZE) provisioning_requests"); err != nil {
		b.Fatal(err)
	}
	var batches [][]claimed
	for len(all) > 0 {
		k := min(batch, len(all))
		batches = append(batches, all[:k:k])
		all = all[k:]
	}
	outs := make([][]outcome, len(batches))
	for i, got := range batches {
		outs[i] = completedOutcomes(got)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.StartTimer()
	cpu := watchCPU(b, db)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(batches) && r.fatalErr() == nil; i = int(next.Add(1) - 1) {
				r.writeBack(batches[i], outs[i])
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	goCPU, pgCPU := cpu.Finish()
	b.StopTimer()
	if err := r.fatalErr(); err != nil {
		b.Fatalf("floor: %v", err)
	}
	if sum.Completed != bd.n {
		b.Fatalf("floor: %+v; want %d completed", sum, bd.n)
	}
	checkSettled(b, db, bd)
	return benchResult{requests: bd.n, elapsed: elapsed, batches: len(batches), goCPU: goCPU, pgCPU: pgCPU}
}

// runHTTP sends n requests' commands, in batches of batch, to a fresh simulator from
// workers goroutines through the run's Client: no database.
func runHTTP(b *testing.B, bd benchData, batch, workers int) benchResult {
	b.Helper()
	b.StopTimer()
	client, sim := benchGateway(b, bd, simulator.Faults{})
	// The commands of a run: the same shapes as benchSQL's, marshalled by the Client.
	known := benchKnown(bd.cards)
	types := []string{casapi.TypeAddProducts, casapi.TypeAddProducts, casapi.TypeCancelProducts, casapi.TypePair,
		casapi.TypeResetPIN, casapi.TypeSetPIN, casapi.TypeResetSmartcard}
	var batches [][]casapi.Command
	for lo := 0; lo < bd.n; lo += batch {
		var cmds []casapi.Command
		for i := lo; i < min(lo+batch, bd.n); i++ {
			c := (i * 7919) % bd.cards
			cmd := casapi.Command{CommandID: strconv.Itoa(i + 1), Type: types[i%len(types)], Smartcard: known.Smartcards[c]}
			switch cmd.Type {
			case casapi.TypeAddProducts, casapi.TypeCancelProducts:
				cmd.Products = known.Products[i%40 : i%40+1]
			case casapi.TypePair:
				cmd.STB = known.STBs[c]
			case casapi.TypeSetPIN:
				cmd.PIN = fmt.Sprintf("%04d", 1+i%9999)
			}
			cmds = append(cmds, cmd)
		}
		batches = append(batches, cmds)
	}
	var next atomic.Int64
	var failed atomic.Pointer[string]
	var wg sync.WaitGroup
	b.StartTimer()
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(batches) {
					return
				}
				out := client.Send(context.Background(), casapi.Batch{BatchID: "bench-" + strconv.Itoa(k), Commands: batches[k]})
				if out.Kind != Answered {
					failed.Store(&out.Detail)
					return
				}
				// What a run does with each answer before writing it back.
				for i := range out.Results {
					_ = mustJSON(batches[k][i])
					_ = mustJSON(out.Results[i])
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if p := failed.Load(); p != nil {
		b.Fatalf("http: %s", *p)
	}
	if st := sim.Stats(); st.CommandsReceived != bd.n {
		b.Fatalf("simulator received %d commands, want %d", st.CommandsReceived, bd.n)
	}
	return benchResult{requests: bd.n, elapsed: elapsed, batches: len(batches)}
}

// benchRate runs run b.N times (normally once, -benchtime 1x) and reports requests/s
// over them all; it returns the pooled result.
func benchRate(b *testing.B, run func() benchResult) benchResult {
	var total benchResult
	for range b.N {
		r := run()
		total.requests += r.requests
		total.elapsed += r.elapsed
		total.batches += r.batches
		total.claimTime += r.claimTime
		total.writeTime += r.writeTime
		total.claims += r.claims
		total.shortClaims += r.shortClaims
		total.goCPU += r.goCPU
		total.pgCPU += r.pgCPU
		total.simCPU += r.simCPU
		total.analysed = total.analysed || r.analysed
		total.refresh += r.refresh
		total.importRefresh += r.importRefresh
		total.estimate = r.estimate
	}
	b.ReportMetric(total.rate(), "req/s")
	b.ReportMetric(0, "ns/op") // the run, not one op, is the unit here
	if total.claims > 0 {
		b.ReportMetric(total.claimTime.Seconds()*1000/float64(total.claims), "ms/claim")
		b.ReportMetric(total.writeTime.Seconds()*1000/float64(total.batches), "ms/writeback")
	}
	return total
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// BenchmarkDispatch measures the processing run end to end, its database work alone
// (two ways) and its HTTP work alone, alternated over rounds, then the run against a
// gateway with 20 ms of latency; it prints the table with the goals at the end.
func BenchmarkDispatch(b *testing.B) {
	perCard := benchEnvFloat(b, "DISPATCH_BENCH_PER_CARD", 2)
	if perCard < 1 {
		perCard = 1
	}
	mk := func(n int) benchData {
		return benchData{n: n, cards: max(1, int(float64(n)/perCard)),
			express: benchEnvFloat(b, "DISPATCH_BENCH_EXPRESS", 0.02), notDue: benchEnvInt(b, "DISPATCH_BENCH_NOT_DUE", 0)}
	}
	data := mk(benchEnvInt(b, "DISPATCH_BENCH_N", 60000))
	latData := mk(benchEnvInt(b, "DISPATCH_BENCH_LATENCY_N", 160000))
	rounds := max(1, benchEnvInt(b, "DISPATCH_BENCH_ROUNDS", 3))
	var sizes []int
	for _, s := range strings.Split(orDefault(os.Getenv("DISPATCH_BENCH_BATCHES"), "100,500"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > casapi.MaxBatch {
			b.Fatalf("DISPATCH_BENCH_BATCHES: %q is not a batch size", s)
		}
		sizes = append(sizes, n)
	}
	const conc = 4
	only := os.Getenv("DISPATCH_BENCH_ONLY")
	if only != "" && only != "stale" {
		b.Fatalf("DISPATCH_BENCH_ONLY=%q: want stale or nothing", only)
	}
	// The stale-statistics pairs: the same requests beside settled history, analysed
	// after the import or only before it; and the same with 1 in k of them
	// process_immediately, sent by a run restricted to their file.
	hist := mk(benchEnvInt(b, "DISPATCH_BENCH_STALE_N", data.n))
	hist.history = benchEnvInt(b, "DISPATCH_BENCH_HISTORY", 2*hist.n)
	if hist.history < 1 {
		b.Fatalf("DISPATCH_BENCH_HISTORY: want at least 1 settled request (the statistics that go stale)")
	}
	hist.historyDB = historyTemplate(b, hist)
	immShare := benchEnvFloat(b, "DISPATCH_BENCH_IMMEDIATE", 0.01)
	if immShare <= 0 || immShare > 1 {
		b.Fatalf("DISPATCH_BENCH_IMMEDIATE=%v: want a share above 0, at most 1", immShare)
	}
	imm := hist
	imm.immediateEvery = max(1, int(math.Round(1/immShare)))
	const staleBatch = 100
	stalePairs := []struct {
		kind string
		data benchData
		opts Options
	}{
		{"run", hist, Options{BatchSize: staleBatch, Concurrency: conc}},
		{"immediate", imm, Options{BatchSize: staleBatch, Concurrency: conc, FileID: benchFile}},
	}

	// One series per kind of run and batch size: the rates of the rounds, and for
	// the baselines the statements' times.
	type series struct {
		rates             []float64
		claimMs, writeMs  []float64
		claims, shortClms int
		goUs, pgUs, cores []float64 // CPU µs per request, and cores busy on average
		simUs             []float64 // the simulator's own process, when it has one
		requests          int       // requests per run (the last round's)
		analysedRuns      int       // runs during which the table was analysed
		refreshMs         []float64 // the runs' statistics refresh, when it analysed
		importRefreshMs   []float64 // the import's statistics refresh, before the run (importTx)
		exRefresh         []float64 // the rates with the refresh's time taken out
		estimate          int64     // the planner's PENDING estimate before the run
	}
	got := map[string]*series{}
	measure := func(kind string, bs, round int, run func(b *testing.B) benchResult) {
		key := fmt.Sprintf("%s/batch=%d", kind, bs)
		b.Run(fmt.Sprintf("%s/round=%d", key, round), func(b *testing.B) {
			r := benchRate(b, func() benchResult { return run(b) })
			s := got[key]
			if s == nil {
				s = &series{}
				got[key] = s
			}
			s.rates = append(s.rates, r.rate())
			s.requests, s.estimate = r.requests, r.estimate
			if r.analysed {
				s.analysedRuns++
			}
			if r.importRefresh > 0 {
				s.importRefreshMs = append(s.importRefreshMs, r.importRefresh.Seconds()*1000)
			}
			if r.refresh > 0 {
				s.refreshMs = append(s.refreshMs, r.refresh.Seconds()*1000)
			}
			s.exRefresh = append(s.exRefresh, float64(r.requests)/(r.elapsed-r.refresh).Seconds())
			if r.claims > 0 {
				s.claimMs = append(s.claimMs, r.claimTime.Seconds()*1000/float64(r.claims))
				s.writeMs = append(s.writeMs, r.writeTime.Seconds()*1000/float64(r.batches))
				s.claims += r.claims
				s.shortClms += r.shortClaims
			}
			if r.goCPU > 0 && r.pgCPU >= 0 {
				us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(r.requests) }
				s.goUs, s.pgUs = append(s.goUs, us(r.goCPU)), append(s.pgUs, us(r.pgCPU))
				s.simUs = append(s.simUs, us(r.simCPU))
				s.cores = append(s.cores, (r.goCPU+r.pgCPU+r.simCPU).Seconds()/r.elapsed.Seconds())
			}
		})
	}
	rate := func(kind string, bs int) float64 {
		if s := got[fmt.Sprintf("%s/batch=%d", kind, bs)]; s != nil {
			return median(s.rates)
		}
		return math.NaN()
	}
	const latConc, latBatch = 8, 100
	latency := time.Duration(benchEnvInt(b, "DISPATCH_BENCH_LATENCY_MS", 20)) * time.Millisecond
	latKind := fmt.Sprintf("latency=%v/conc=%d", latency, latConc)
	ceilKind := fmt.Sprintf("no-latency/conc=%d", latConc)
	simBin := os.Getenv("DISPATCH_BENCH_SIMULATOR")
	extKind := latKind + "/sim-process"
	// The stale-statistics pairs, last in each round: analysed first in odd rounds,
	// stale first in even ones.
	measureStale := func(round int) {
		for _, p := range stalePairs {
			for i := range 2 {
				bd, kind := p.data, p.kind+"/analysed"
				if (i+round)%2 == 0 {
					bd.stale, kind = true, p.kind+"/stale"
					// The immediate send follows an import, which refreshes the
					// statistics in its own transaction.
					bd.importTx = p.opts.FileID != 0
				}
				var imported time.Duration
				bd.importRefresh = &imported
				measure(kind, staleBatch, round, func(b *testing.B) benchResult {
					r := runE2E(b, bd, p.opts, simulator.Faults{}, "")
					r.importRefresh = imported
					return r
				})
			}
		}
	}
	for round := 1; round <= rounds; round++ {
		if only == "stale" {
			measureStale(round)
			continue
		}
		// The run with latency, and the same run with none: what this machine can do
		// with the run's shape at that concurrency, its CPU the limit.
		measure(latKind, latBatch, round, func(b *testing.B) benchResult {
			return runE2E(b, latData, Options{BatchSize: latBatch, Concurrency: latConc}, simulator.Faults{Latency: latency}, "")
		})
		measure(ceilKind, latBatch, round, func(b *testing.B) benchResult {
			return runE2E(b, latData, Options{BatchSize: latBatch, Concurrency: latConc}, simulator.Faults{}, "")
		})
		if simBin != "" {
			measure(extKind, latBatch, round, func(b *testing.B) benchResult {
				return runE2E(b, latData, Options{BatchSize: latBatch, Concurrency: latConc}, simulator.Faults{Latency: latency}, simBin)
			})
		}
		for _, bs := range sizes {
			measure("e2e", bs, round, func(b *testing.B) benchResult {
				return runE2E(b, data, Options{BatchSize: bs, Concurrency: conc}, simulator.Faults{}, "")
			})
			measure("baseline", bs, round, func(b *testing.B) benchResult { return runBaseline(b, data, bs, conc, false) })
			measure("baseline-pipelined", bs, round, func(b *testing.B) benchResult { return runBaseline(b, data, bs, conc, true) })
			measure("http", bs, round, func(b *testing.B) benchResult { return runHTTP(b, data, bs, conc) })
		}
		measure("floor", latBatch, round, func(b *testing.B) benchResult { return runFloor(b, data, latBatch, conc) })
		measureStale(round)
	}
	if b.Failed() {
		return
	}

	// printStale prints the stale-statistics pairs.
	printStale := func(w io.Writer) {
		measured := false
		for _, p := range stalePairs {
			measured = measured || got[fmt.Sprintf("%s/stale/batch=%d", p.kind, staleBatch)] != nil
		}
		if !measured {
			return // not selected by -bench
		}
		fmt.Fprintf(w, "\n== Stale statistics (issue 15), concurrency %d, batch %d: %s; median of %d round(s), analysed and stale alternated ==\n",
			conc, staleBatch, hist, rounds)
		fmt.Fprintf(w, "%-15s %10s %10s %7s  %-18s %11s  %s\n", "", "analysed", "stale", "ratio", "goal ratio >= 0.80",
			"w/o refresh", "stale run's refresh (ANALYZE)")
		for _, p := range stalePairs {
			an, st := got[fmt.Sprintf("%s/analysed/batch=%d", p.kind, staleBatch)], got[fmt.Sprintf("%s/stale/batch=%d", p.kind, staleBatch)]
			if an == nil || st == nil {
				continue
			}
			ratio := median(st.rates) / median(an.rates)
			refresh := fmt.Sprintf("in %d of %d run(s)", st.analysedRuns, len(st.rates))
			if len(st.refreshMs) > 0 {
				refresh = fmt.Sprintf("%.0f ms, ", median(st.refreshMs)) + refresh
			}
			if an.analysedRuns > 0 {
				refresh += fmt.Sprintf("; in %d analysed run(s) too", an.analysedRuns)
			}
			if len(st.importRefreshMs) > 0 {
				refresh += fmt.Sprintf("; the import's, in its transaction: %.0f ms", median(st.importRefreshMs))
			}
			label := "processing run"
			if p.kind == "immediate" {
				label = "immediate send"
			}
			fmt.Fprintf(w, "%-15s %10.0f %10.0f %7.2f  %-18s %11.2f  %s\n", label, median(an.rates), median(st.rates), ratio,
				verdict(ratio >= goalOfAnalysed), median(st.exRefresh)/median(an.rates), refresh)
			fmt.Fprintf(w, "  %d requests sent per run, in %.0f ms analysed, %.0f ms stale; the planner expected %d PENDING requests when\n"+
				"  analysed, %d when stale\n", st.requests, 1000*float64(st.requests)/median(an.rates),
				1000*float64(st.requests)/median(st.rates), an.estimate, st.estimate)
		}
		fmt.Fprintf(w, "analysed: ANALYZE after the requests were inserted; stale: ANALYZE after the settled history only, so that the\n"+
			"statistics say \"no PENDING requests\": the run's own statistics refresh (store.RefreshRequestStats) is in its time.\n"+
			"processing run: one Run, req/s. immediate send: a Run with Options.FileID (the importer's send at once) over the same\n"+
			"requests, 1 in %d of them process_immediately: req/s of those it sends (the ones at the head of their smartcard's\n"+
			"queue, and any right behind them), after the requests were written as the importer writes a file: its refresh\n"+
			"(store.RefreshRequestStatsTx) analyses in the file's transaction, so the send starts on fresh statistics; that\n"+
			"ANALYZE is the import's time, shown apart. w/o refresh: the ratio with the stale run's ANALYZE taken out of its time.\n",
			imm.immediateEvery)
	}

	w := os.Stdout
	if only == "stale" {
		printStale(w)
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, "\n== Processing run (dispatcher), concurrency %d: %s; median of %d round(s), kinds alternated ==\n", conc, data, rounds)
	fmt.Fprintf(w, "%-10s %10s %10s %10s %10s %7s  %-20s %-18s\n", "", "e2e req/s", "baseline", "pipelined", "http only", "ratio", "goal e2e >= 20,000/s", "goal ratio >= 0.80")
	for _, bs := range sizes {
		e, base, pipe, h := rate("e2e", bs), rate("baseline", bs), rate("baseline-pipelined", bs), rate("http", bs)
		ratio := e / max(base, pipe)
		fmt.Fprintf(w, "%-10s %10.0f %10.0f %10.0f %10.0f %7.2f  %-20s %-18s\n", fmt.Sprintf("batch %d", bs), e, base, pipe, h, ratio,
			verdict(e >= goalE2E), verdict(ratio >= goalOfBaseline))
	}
	fmt.Fprintf(w, "baseline: %d goroutines each claim then write back; pipelined: one claims, %d write back (the run's shape). ratio = e2e / the higher.\n", conc, conc)
	for _, kind := range []string{"baseline", "baseline-pipelined"} {
		for _, bs := range sizes {
			s := got[fmt.Sprintf("%s/batch=%d", kind, bs)]
			if s == nil {
				continue // not selected by -bench
			}
			fmt.Fprintf(w, "  %-18s batch %3d: claim %6.2f ms, write-back %6.2f ms per statement; %d of %d claims came back short\n",
				kind, bs, median(s.claimMs), median(s.writeMs), s.shortClms, s.claims)
		}
	}
	lat, ceil := rate(latKind, latBatch), rate(ceilKind, latBatch)
	theory := float64(latConc*latBatch) / latency.Seconds()
	fmt.Fprintf(w, "\n== With gateway latency %v, concurrency %d, batch %d: %s; median of %d round(s) ==\n", latency, latConc, latBatch, latData, rounds)
	fmt.Fprintf(w, "%-10s %10s %11s %7s  %-18s %10s %9s\n", "", "req/s", "theoretical", "ratio", "goal ratio >= 0.90", "no latency", "ratio")
	fmt.Fprintf(w, "%-10s %10.0f %11.0f %7.2f  %-18s %10.0f %9.2f\n", "latency", lat, theory, lat/theory, verdict(lat/theory >= goalOfTheory), ceil, lat/ceil)
	if simBin != "" {
		ext := rate(extKind, latBatch)
		fmt.Fprintf(w, "%-10s %10.0f %11.0f %7.2f  %-18s %10.0f %9.2f\n", "sim apart", ext, theory, ext/theory, verdict(ext/theory >= goalOfTheory), ceil, ext/ceil)
	}
	floor := rate("floor", latBatch)
	if !math.IsNaN(floor) {
		fmt.Fprintf(w, "%-10s %10.0f %11.0f %7.2f  (write-backs alone, %d goroutines: no claim, no HTTP)\n", "floor", floor, theory, floor/theory, conc)
	}
	fmt.Fprintf(w, "no latency: the same run against a gateway with no latency, in the same rounds: this machine's ceiling for it.\n")
	if !math.IsNaN(floor) {
		fmt.Fprintf(w, "floor: the run's write-back statement alone settling requests claimed beforehand: a ceiling for any run here.\n")
		// The floor is CPU-bound like every kind above (its "cores busy" below says
		// how much): at a rate R the write-backs alone take R/floor of that, and the
		// claims, the run and the gateway must fit in the rest.
		share := goalOfTheory * theory / floor
		fmt.Fprintf(w, "  at %.0f req/s (the goal) the write-backs alone would take %.0f%% of what the floor kept busy, leaving %.0f%% for the claims, the run and the gateway\n",
			goalOfTheory*theory, 100*share, max(0, 100-100*share))
	}
	if simBin != "" {
		fmt.Fprintf(w, "sim apart: the latency run against cmd/cas-simulator in a process of its own (%s).\n", simBin)
	}
	for _, kind := range []string{latKind, ceilKind, extKind, "floor"} {
		s := got[fmt.Sprintf("%s/batch=%d", kind, latBatch)]
		switch {
		case s == nil || len(s.goUs) == 0:
		case kind == extKind:
			fmt.Fprintf(w, "  %-31s CPU per request: %5.1f µs the run, %5.1f µs the simulator, %5.1f µs PostgreSQL; %.2f cores busy\n",
				kind, median(s.goUs), median(s.simUs), median(s.pgUs), median(s.cores))
		default:
			fmt.Fprintf(w, "  %-31s CPU per request: %5.1f µs the run and the simulator, %5.1f µs PostgreSQL; %.2f cores busy\n",
				kind, median(s.goUs), median(s.pgUs), median(s.cores))
		}
	}
	printStale(w)
	fmt.Fprintln(w)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
