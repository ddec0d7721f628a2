package consolebench

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lib/pq"
	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/console"
	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/ops"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// Goal is the longest a page may take at p95 (issue 13).
const Goal = 150 * time.Millisecond

// Config is one bench.
type Config struct {
	ServerURL string // any database of the server; the bench's is created beside it
	Database  string
	Requests  int64
	Cards     int
	Rounds    int  // timed loads of each page
	Reuse     bool // keep a database already filled with as many requests (and keep it after)
	Keep      bool // keep the database after
	Only      string
	Progress  io.Writer
}

func (c Config) logf(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "consolebench: "+format+"\n", args...)
	}
}

// Run fills (or reuses) the database, times the pages and prints the table on w.
func Run(ctx context.Context, cfg Config, w io.Writer) error {
	if cfg.Rounds < 2 {
		cfg.Rounds = 2
	}
	dsn, drop, filled, err := database(ctx, cfg)
	if err != nil {
		return err
	}
	if !cfg.Keep && !cfg.Reuse {
		defer drop()
	}
	// A reused database is migrated too: the bench then times the pages on the
	// schema of the code it runs.
	if _, _, err := store.Migrate(ctx, dsn); err != nil {
		return err
	}
	if !filled {
		took, err := fill(ctx, cfg, dsn)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Filled %d requests (%d smartcards) in %s\n", cfg.Requests, cfg.Cards, took.Round(time.Second))
	} else {
		fmt.Fprintf(w, "Reused %s: %d requests already there\n", cfg.Database, cfg.Requests)
	}

	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	// The console's own errors (a statement timeout) go to the progress output: a
	// page that fails says why.
	log := logrus.New()
	log.SetOutput(io.Discard)
	if cfg.Progress != nil {
		log.SetOutput(cfg.Progress)
	}
	log.SetLevel(logrus.ErrorLevel)
	con := console.New(db, console.Options{Jobs: jobs.Names(), Log: log})
	srv := httptest.NewServer(con.Handler())
	defer srv.Close()
	cl, err := signIn(ctx, db, srv.URL)
	if err != nil {
		return err
	}

	cases := pages(cfg, time.Now())
	if cfg.Only != "" {
		cases = slices.DeleteFunc(cases, func(c page) bool { return !strings.Contains(c.name, cfg.Only) })
	}
	// One load of each first (the cache warm, as on a console in use), then the
	// rounds, each page in turn within a round: the machine's noise falls on all.
	// A page that fails (a statement timeout: store.DefaultStatementTimeout) is a MISS
	// with its error, and is not loaded again.
	failed := make([]error, len(cases))
	for i, c := range cases {
		if _, err := c.time(ctx, cl, srv.URL, db); err != nil {
			failed[i] = err
			cfg.logf("%s: %v", c.name, err)
		}
	}
	times := make([][]time.Duration, len(cases))
	for r := 0; r < cfg.Rounds; r++ {
		for i, c := range cases {
			if failed[i] != nil {
				continue
			}
			d, err := c.time(ctx, cl, srv.URL, db)
			if err != nil {
				failed[i] = err
				cfg.logf("%s: %v", c.name, err)
				continue
			}
			times[i] = append(times[i], d)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "page\tp50\tp95\tgoal %s\tplan\n", Goal)
	missed := 0
	for i, c := range cases {
		if failed[i] != nil {
			missed++
			fmt.Fprintf(tw, "%s\t-\t-\tMISS\tfailed: %v\n", c.name, failed[i])
			continue
		}
		p50, p95 := quantile(times[i], 0.50), quantile(times[i], 0.95)
		verdict := "PASS"
		if p95 > Goal {
			verdict = "MISS"
			missed++
		}
		plan := "-"
		if c.plan != nil {
			var err error
			if plan, err = c.plan(ctx, db); err != nil {
				plan = "explain: " + err.Error()
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.name, ms(p50), ms(p95), verdict, plan)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d pages, %d loads each after one to warm: %d under the goal at p95, %d missed\n",
		len(cases), cfg.Rounds, len(cases)-missed, missed)
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*q+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// database creates the bench's database, or finds it filled when cfg.Reuse.
func database(ctx context.Context, cfg Config) (dsn string, drop func(), filled bool, err error) {
	admin, err := sql.Open("postgres", cfg.ServerURL)
	if err != nil {
		return "", nil, false, err
	}
	u, err := url.Parse(cfg.ServerURL)
	if err != nil {
		return "", nil, false, err
	}
	u.Path = "/" + cfg.Database
	dsn = u.String()
	name := pq.QuoteIdentifier(cfg.Database)
	drop = func() {
		admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	}
	if cfg.Reuse {
		if db, err := sql.Open("postgres", dsn); err == nil {
			var n int64
			err := db.QueryRowContext(ctx, "SELECT requests FROM consolebench_filled").Scan(&n)
			db.Close()
			if err == nil && n == cfg.Requests {
				return dsn, drop, true, nil
			}
		}
	}
	for _, q := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "CREATE DATABASE " + name} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			admin.Close()
			return "", nil, false, fmt.Errorf("create database %s (run scripts/ensure-postgres.sh): %w", cfg.Database, err)
		}
	}
	return dsn, drop, false, nil
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn creates the admin bench and returns a client signed in as it, through
// the sign-in form, as a browser is.
func signIn(ctx context.Context, db *store.DB, base string) (*http.Client, error) {
	password := console.GeneratePassword()
	if _, err := db.ExecContext(ctx, "DELETE FROM operators WHERE name = 'bench'"); err != nil {
		return nil, err
	}
	// An admin: it sees every page, the Operators and tokens page included.
	if err := console.CreateOperator(ctx, db, "bench", console.RoleAdmin, password, time.Now()); err != nil {
		return nil, err
	}
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar, Timeout: 5 * time.Minute}
	resp, err := cl.Get(base + "/console/login")
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(body)
	if m == nil {
		return nil, fmt.Errorf("sign in: no csrf field in the sign-in page")
	}
	resp, err = cl.PostForm(base+"/console/login", url.Values{"csrf": {string(m[1])}, "username": {"bench"}, "password": {password}})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/console/" {
		return nil, fmt.Errorf("sign in: landed on %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	return cl, nil
}

// load asks for the page and reads it whole: the time a browser waits for its HTML.
func load(ctx context.Context, cl *http.Client, u string) (time.Duration, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	start := time.Now()
	resp, err := cl.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path == "/console/login" {
		return 0, fmt.Errorf("GET %s: %d at %s", u, resp.StatusCode, resp.Request.URL.Path)
	}
	return took, nil
}

// page is one page of the console to time, and how to explain it.
type page struct {
	name string
	path string
	// run, when set, is timed instead of a load of path: a part of a page.
	run  func(ctx context.Context, db *store.DB) error
	plan func(ctx context.Context, db *store.DB) (string, error)
}

// time loads the page (or runs its part) once.
func (p page) time(ctx context.Context, cl *http.Client, base string, db *store.DB) (time.Duration, error) {
	if p.run != nil {
		start := time.Now()
		err := p.run(ctx, db)
		return time.Since(start), err
	}
	return load(ctx, cl, base+p.path)
}

// listing is a Requests page of the filter given both ways: as the page's URL
// (what is timed) and as ops.Filter (what is explained: the page's two queries).
func listing(name, query string, f ops.Filter) page {
	return page{name: name, path: "/console/requests?" + query, plan: func(ctx context.Context, db *store.DB) (string, error) {
		f.Limit = console.PageSize
		list, err := ops.ExplainList(ctx, db, f)
		if err != nil {
			return "", err
		}
		count, err := ops.ExplainCountUpTo(ctx, db, f, console.CountCap)
		if err != nil {
			return "", err
		}
		return "list: " + summary(list) + "; count: " + summary(count), nil
	}}
}

// pages are the console's pages and every filter of the Requests page, on the
// data fill.sql makes.
func pages(cfg Config, now time.Time) []page {
	n := cfg.Requests
	settled := n * 95 / 100
	day := func(ago int) string { return now.AddDate(0, 0, -ago).UTC().Format("2006-01-02") }
	at := func(s string) time.Time { t, _ := time.Parse("2006-01-02", s); return t }
	card := (settled/2*7919)%int64(cfg.Cards) + 1 // the card of a settled request midway
	// The overview's statements as it runs them: PENDING counted up to its cap, and
	// above it the settled groups alone (console.OverviewPendingCap).
	overview := page{name: "overview", path: "/console/", plan: explainSQL(
		query{"pending up to the cap", provsql.PendingCount, "pending_queue", []any{console.OverviewPendingCap + 1}},
		query{"queue counts", provsql.QueueCounts, "pending_queue", []any{now, cfg.Requests-cfg.Requests*95/100 <= console.OverviewPendingCap}},
		query{"errors of the day", provsql.TopErrors, "provisioning_requests", []any{now.Add(-24 * time.Hour), 10}},
		query{"last job runs", provsql.LastJobRuns, "job_runs", nil},
	)}
	// The overview's chart alone (ops.SettledPerMinute, as the overview calls it):
	// its share of the overview's time.
	chart := page{name: "overview's chart (24 h)", run: func(ctx context.Context, db *store.DB) error {
		_, err := ops.SettledPerMinute(ctx, db, now.Add(-24*time.Hour), now)
		return err
	}, plan: explainSQL(query{"per minute", provsql.SettledPerMinute, "provisioning_requests",
		[]any{now.Add(-24 * time.Hour).UTC().Truncate(time.Minute), now}})}
	// A retry's dry run lists its candidates; the other levers' count them
	// (ops.PullSummary), then list a sample.
	bulk := func(name, query string, f ops.Filter) page {
		return page{name: name, path: "/console/bulk?" + query, plan: func(ctx context.Context, db *store.DB) (string, error) {
			if !strings.Contains(query, "lever=retry") {
				plan, err := ops.ExplainPullSummary(ctx, db, f, now)
				if err != nil {
					return "", err
				}
				return "dry run, counted: " + summary(plan), nil
			}
			plan, err := ops.ExplainList(ctx, db, f)
			if err != nil {
				return "", err
			}
			return "dry run: " + summary(plan), nil
		}}
	}
	small := func(name, path string, qs ...query) page {
		p := page{name: name, path: path}
		if len(qs) > 0 {
			p.plan = explainSQL(qs...)
		}
		return p
	}
	sub := (card-1)%int64(cfg.Cards/2) + 1
	request := func(name string, number int64) page {
		return page{name: name, path: fmt.Sprintf("/console/requests/%d", number), plan: func(ctx context.Context, db *store.DB) (string, error) {
			plan, err := ops.ExplainList(ctx, db, ops.Filter{Number: number})
			if err != nil {
				return "", err
			}
			return "get: " + summary(plan), nil
		}}
	}
	return []page{
		overview,
		listing("requests (no filter)", "", ops.Filter{}),
		listing("state=PENDING", "state=PENDING", ops.Filter{States: []string{"PENDING"}}),
		listing("state=COMPLETED", "state=COMPLETED", ops.Filter{States: []string{"COMPLETED"}}),
		listing("state=REJECTED", "state=REJECTED", ops.Filter{States: []string{"REJECTED"}}),
		listing("type=PAIR", "type=PAIR", ops.Filter{Types: []string{"PAIR"}}),
		listing("priority=EXPRESS", "priority=EXPRESS", ops.Filter{Priorities: []string{"EXPRESS"}}),
		listing("state=PENDING&priority=EXPRESS", "state=PENDING&priority=EXPRESS", ops.Filter{States: []string{"PENDING"}, Priorities: []string{"EXPRESS"}}),
		listing("error_code=E_TIMEOUT", "error_code=E_TIMEOUT", ops.Filter{ErrorCodes: []string{"E_TIMEOUT"}}),
		listing("state=REJECTED&error_code=E_BUSY", "state=REJECTED&error_code=E_BUSY", ops.Filter{States: []string{"REJECTED"}, ErrorCodes: []string{"E_BUSY"}}),
		listing("smartcard (CA id)", fmt.Sprintf("smartcard=C%d", card), ops.Filter{Smartcard: fmt.Sprintf("C%d", card)}),
		listing("smartcard (serial)", fmt.Sprintf("smartcard=SN%d", card), ops.Filter{Smartcard: fmt.Sprintf("SN%d", card)}),
		listing("subscription", fmt.Sprintf("subscription=S%d", sub), ops.Filter{Subscription: fmt.Sprintf("S%d", sub)}),
		listing("file", "file=bulk-00500.csv", ops.Filter{File: "bulk-00500.csv"}),
		listing("reference_number", fmt.Sprintf("reference_number=GW%d", settled/3+1), ops.Filter{ReferenceNumber: fmt.Sprintf("GW%d", settled/3+1)}),
		listing("created, one day 45 days ago", "created_since="+day(45)+"&created_until="+day(44), ops.Filter{CreatedSince: at(day(45)), CreatedUntil: at(day(44))}),
		listing("created since 36h", "created_since=36h", ops.Filter{CreatedSince: now.Add(-36 * time.Hour)}),
		// A settlement range lists by settlement time unless a sort is asked
		// (ops.Filter.SetSort); number order is timed beside it.
		listing("executed, one day 30 days ago", "executed_since="+day(30)+"&executed_until="+day(29), ops.Filter{ExecutedSince: at(day(30)), ExecutedUntil: at(day(29)), BySettlement: true}),
		listing("executed since 7d", "executed_since=7d", ops.Filter{ExecutedSince: now.AddDate(0, 0, -7), BySettlement: true}),
		listing("executed since 7d, sort=number", "executed_since=7d&sort=number", ops.Filter{ExecutedSince: now.AddDate(0, 0, -7)}),
		listing("REJECTED, E_BUSY, created 7d", "state=REJECTED&error_code=E_BUSY&created_since=7d", ops.Filter{States: []string{"REJECTED"}, ErrorCodes: []string{"E_BUSY"}, CreatedSince: now.AddDate(0, 0, -7)}),
		listing("keyset: after 90% (no filter)", fmt.Sprintf("after=%d", n*9/10), ops.Filter{After: n * 9 / 10}),
		listing("keyset: last page (no filter)", fmt.Sprintf("after=%d", n-20), ops.Filter{After: n - 20}),
		listing("keyset: REJECTED after 90%", fmt.Sprintf("state=REJECTED&after=%d", n*9/10), ops.Filter{States: []string{"REJECTED"}, After: n * 9 / 10}),
		listing("keyset: PAIR after 50%", fmt.Sprintf("type=PAIR&after=%d", n/2), ops.Filter{Types: []string{"PAIR"}, After: n / 2}),
		request("request (settled)", settled/2),
		request("request (pending, held)", settled+6),
		chart,
		bulk("bulk retry: REJECTED, E_BUSY, executed 1d", "lever=retry&state=REJECTED&error_code=E_BUSY&executed_since=1d",
			ops.Filter{States: []string{"REJECTED"}, ErrorCodes: []string{"E_BUSY"}, ExecutedSince: now.AddDate(0, 0, -1)}),
		bulk("bulk hold: a subscription's PENDING", fmt.Sprintf("lever=hold&state=PENDING&subscription=S%d", sub),
			ops.Filter{States: []string{"PENDING"}, Subscription: fmt.Sprintf("S%d", sub)}),
		bulk("bulk hold: PENDING EXPRESS (10,000)", "lever=hold&state=PENDING&priority=EXPRESS",
			ops.Filter{States: []string{"PENDING"}, Priorities: []string{"EXPRESS"}}),
		small("files", "/console/files", query{"files", provsql.ListImportFiles, "import_files", []any{"", 0, 51, 0}}),
		small("file", "/console/files/500"),
		small("runs", "/console/runs", query{"processing runs", provsql.ListProcesses, "processes", []any{"PROVISIONING_REQUEST_PROCESSING_RUN", 0, 51}},
			query{"ledger", provsql.ListJobRuns, "job_runs", []any{"", 0, 51}}),
		small("runs of a job (reconcile)", "/console/runs?job=reconcile", query{"ledger", provsql.ListJobRuns, "job_runs", []any{"reconcile", 0, 51}}),
		small("operators and tokens", "/console/operators", query{"tokens", provsql.ListAPITokens, "provisioning_requests", []any{console.CountCap + 1}}),
		small("audit", "/console/audit", query{"audit", provsql.ListAudit, "audit_log", []any{"", "", nil, 51, nil, 0}}),
		small("audit: an operator's retries", "/console/audit?operator=operator-3&action=retry",
			query{"audit", provsql.ListAudit, "audit_log", []any{"operator-3", "retry", nil, 51, nil, 0}}),
	}
}

// explainSQL is a page's plan from its own statements: name, SQL and arguments.
func explainSQL(qs ...query) func(ctx context.Context, db *store.DB) (string, error) {
	return func(ctx context.Context, db *store.DB) (string, error) {
		var parts []string
		for _, q := range qs {
			var plan []byte
			if err := db.QueryRowContext(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+q.sql, q.args...).Scan(&plan); err != nil {
				return "", fmt.Errorf("%s: %w", q.name, err)
			}
			parts = append(parts, q.name+": "+summaryOf(plan, q.table))
		}
		return strings.Join(parts, "; "), nil
	}
}

type query struct {
	name, sql, table string // table: the relation whose scans the summary names
	args             []any
}

// summary says what a plan (EXPLAIN's JSON) did: the scans of provisioning_requests
// (by which index), the rows they read and whether a Limit stopped them.
func summary(plan []byte) string { return summaryOf(plan, "provisioning_requests") }

// summaryOf is summary for the scans of table.
func summaryOf(plan []byte, table string) string {
	var top []struct {
		Plan node `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &top); err != nil || len(top) == 0 {
		return "unreadable plan"
	}
	var scans []string
	limited := false
	var walk func(n node)
	walk = func(n node) {
		if n.NodeType == "Limit" {
			limited = true
		}
		if n.Relation == table {
			s := n.NodeType
			if n.Index != "" {
				s += " " + n.Index
			}
			s += fmt.Sprintf(" (%.0f rows", n.ActualRows*max(n.Loops, 1))
			if n.Removed > 0 {
				s += fmt.Sprintf(", %.0f filtered out", n.Removed*max(n.Loops, 1))
			}
			scans = append(scans, s+")")
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	// Several plans: the statements of one answer (ops.ExplainCountUpTo's
	// counts of a created range, up to three), in the order they run.
	for _, t := range top {
		walk(t.Plan)
	}
	out := strings.Join(scans, " + ")
	if out == "" {
		out = "no scan of " + table
	}
	if limited {
		out += ", limited"
	}
	return out
}

type node struct {
	NodeType   string  `json:"Node Type"`
	Relation   string  `json:"Relation Name"`
	Index      string  `json:"Index Name"`
	ActualRows float64 `json:"Actual Rows"`
	Loops      float64 `json:"Actual Loops"`
	Removed    float64 `json:"Rows Removed by Filter"`
	Plans      []node  `json:"Plans"`
}
