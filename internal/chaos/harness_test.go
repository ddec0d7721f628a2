package chaos_test

// What every scenario shares: the workload, the gateway, the program as a child
// process, the drain, and the one check every scenario ends with.

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/simulator"
	"github.com/provisioner/provisioner/store"
)

const (
	token = "chaos-token"
	dest  = "CRM01"
)

// seedOf is the scenario's seed: $PROVISIONER_TEST_SEED or the clock, logged.
func seedOf(t *testing.T) int64 {
	seed := time.Now().UnixNano()
	if s := os.Getenv("PROVISIONER_TEST_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (set PROVISIONER_TEST_SEED to repeat)", seed)
	return seed
}

// workload is requests over cards of their own, each card with its own STB, so that
// whatever the interleaving every request settles (COMPLETED, or REJECTED by the
// gateway's rules, as CANCEL_PRODUCTS of a product the card lacks).
type workload struct {
	known simulator.Known
	reqs  []pgtest.RequestOpts
}

func genWorkload(seed int64, cards, perCard int, expressShare int) workload {
	r := rand.New(rand.NewPCG(uint64(seed), 0xc4a05))
	var w workload
	for i := range 8 {
		w.known.Products = append(w.known.Products, fmt.Sprintf("P-%04d", 3001+i))
	}
	for c := range cards {
		w.known.Smartcards = append(w.known.Smartcards, fmt.Sprintf("CH%08d", c+1))
		w.known.STBs = append(w.known.STBs, fmt.Sprintf("CHSTB%08d", c+1))
	}
	for range cards * perCard {
		c := r.IntN(cards)
		q := pgtest.RequestOpts{Smartcard: w.known.Smartcards[c]}
		if r.IntN(100) < expressShare {
			q.Priority = "EXPRESS"
		}
		switch x := r.IntN(10); {
		case x < 4:
			q.Type, q.Services = casapi.TypeAddProducts, []string{w.known.Products[r.IntN(8)]}
		case x < 6:
			q.Type, q.Services = casapi.TypeCancelProducts, []string{w.known.Products[r.IntN(8)]}
		case x < 7:
			stb := w.known.STBs[c]
			q.Type, q.STB = casapi.TypePair, &stb
		case x < 9:
			pin := fmt.Sprintf("%04d", 1+r.IntN(9999))
			q.Type, q.PIN = casapi.TypeSetPIN, &pin
		default:
			q.Type = casapi.TypeResetPIN
		}
		w.reqs = append(w.reqs, q)
	}
	return w
}

// gateway is the simulator over real HTTP behind a switch: while down, every call
// is answered 503 (a maintenance page) without reaching the simulator. It counts the
// batches that came while down.
type gateway struct {
	sim      *simulator.Simulator
	srv      *httptest.Server
	down     atomic.Bool
	downHits atomic.Int64 // batches answered 503 while down
	// downCommands counts their commands.
	downCommands atomic.Int64
	batches      atomic.Int64
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v1/batches") {
		g.batches.Add(1)
	}
	if g.down.Load() {
		g.downHits.Add(1)
		var body struct{ Commands []json.RawMessage }
		if json.NewDecoder(r.Body).Decode(&body) == nil {
			g.downCommands.Add(int64(len(body.Commands)))
		}
		w.Header().Set("Retry-After", "1")
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	g.sim.ServeHTTP(w, r)
}

func newGateway(t *testing.T, seed int64, faults simulator.Faults, known simulator.Known) *gateway {
	t.Helper()
	g := &gateway{sim: simulator.New(simulator.Config{Token: token, DestinationID: dest, Seed: seed, Faults: faults}, known)}
	g.srv = httptest.NewServer(g)
	t.Cleanup(func() {
		g.sim.Close()
		g.srv.Close()
	})
	return g
}

// program runs the provisioner (this test binary, see TestMain) with an environment.
type program struct {
	t    *testing.T
	vars map[string]string
	runs atomic.Int64
	wrap []string // a command that runs it, e.g. ip netns exec NS
}

func newProgram(t *testing.T, dsn, gatewayURL string) *program {
	return &program{t: t, vars: map[string]string{
		"DATABASE_URL": dsn, "CAS_GATEWAY_URL": gatewayURL, "CAS_GATEWAY_TOKEN": token, "CAS_DESTINATION_ID": dest,
		"LOG_FORMAT": "json", "LOG_LEVEL": "warn",
	}}
}

// child is one process of the program.
type child struct {
	cmd    *exec.Cmd
	out    bytes.Buffer
	done   chan struct{}
	code   int
	killed bool
	mu     sync.Mutex
}

func (p *program) start(args ...string) *child {
	p.t.Helper()
	self, err := os.Executable()
	if err != nil {
		p.t.Fatal(err)
	}
	argv := append(append(append([]string{}, p.wrap...), self), args...)
	c := &child{cmd: exec.Command(argv[0], argv[1:]...), done: make(chan struct{})}
	env := []string{childEnv + "=1"}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); p.vars[k] == "" && k != "DATABASE_URL" && k != "PROVISIONER_CONFIG" && !strings.HasPrefix(k, "CAS_") {
			env = append(env, kv)
		}
	}
	for k, v := range p.vars {
		env = append(env, k+"="+v)
	}
	c.cmd.Env = env
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		p.t.Fatalf("start %v: %v", args, err)
	}
	p.runs.Add(1)
	go func() {
		err := c.cmd.Wait()
		c.mu.Lock()
		c.code = c.cmd.ProcessState.ExitCode()
		_ = err
		c.mu.Unlock()
		close(c.done)
	}()
	p.t.Cleanup(func() { c.kill() })
	return c
}

// kill sends SIGKILL to the child's process group; it says whether the child was
// still running.
func (c *child) kill() bool {
	select {
	case <-c.done:
		return false
	default:
	}
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.done
	c.killed = true
	return true
}

// signal sends sig to the child alone.
func (c *child) signal(sig syscall.Signal) { c.cmd.Process.Signal(sig) }

// running is what wait returns for a child still running (a child killed by a
// signal has exit code -1).
const running = -1000

// wait waits up to d for the child to end and returns its exit code, or running.
func (c *child) wait(d time.Duration) int {
	code := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.code
	}
	select {
	case <-c.done:
		return code()
	default:
	}
	if d <= 0 {
		return running
	}
	select {
	case <-c.done:
		return code()
	case <-time.After(d):
		return running
	}
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.out.String()
	if len(s) > 3000 {
		s = "…" + s[len(s)-3000:]
	}
	return s
}

// processArgs are the scenarios' processing runs: small batches, short lease and
// timeout, so that the test moves; attempts enough that faults reject nothing.
func processArgs(extra ...string) []string {
	return append([]string{"process", "--batch-size", "20", "--concurrency", "3", "--lease", "2s", "--batch-timeout", "1s", "--max-attempts", "100"}, extra...)
}

// drain runs processing runs, one after another, until no due request is PENDING,
// within limit; it returns how long that took. Between runs it waits until the claim
// would find work (the claim's own rule, as `status` counts "due"): a request backing
// off after an unsettled send holds its card's later requests back too, and a run
// started before its backoff ends claims nothing.
func drain(t *testing.T, db *store.DB, p *program, limit time.Duration, extra ...string) time.Duration {
	t.Helper()
	start := time.Now()
	var last *child
	for i := 0; pendingDue(t, db) > 0; i++ {
		if time.Since(start) > limit || i > 500 {
			out := ""
			if last != nil {
				out = "\nthe last run:\n" + last.output()
			}
			t.Fatalf("requests still PENDING after %d runs in %v:\n%s%s", i, time.Since(start).Round(time.Millisecond), pendingBreakdown(t, db), out)
		}
		c := p.start(processArgs(extra...)...)
		last = c
		// One run may take long on a large backlog: it has what is left of limit.
		within := max(2*time.Minute, limit-time.Since(start))
		code := c.wait(within)
		if code == running {
			c.kill()
			t.Fatalf("a processing run did not end within %v:\n%s", within.Round(time.Second), c.output())
		}
		if code == 2 { // a usage error: no run will do better
			t.Fatalf("drain run %d: exit 2\n%s", i, c.output())
		}
		if code != 0 && code != 3 {
			t.Logf("drain run %d: exit %d\n%s", i, code, c.output())
		}
		if code == 0 || code == 3 {
			// Backoffs and leases still running: let them pass rather than spin.
			wait := max(time.Minute, limit-time.Since(start))
			for deadline := time.Now().Add(wait); claimable(t, db) == 0 && pendingDue(t, db) > 0; {
				if time.Now().After(deadline) {
					t.Fatalf("waited %v for a request the claim takes, after %d runs:\n%s\nthe last run:\n%s", wait.Round(time.Second), i+1, pendingBreakdown(t, db), c.output())
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	return time.Since(start)
}

// claimable counts the PENDING requests the next claim takes, by the claim's own rule
// as `provisioner status` counts them (due: no wait of its own, head of its card).
func claimable(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var n int64
	var err error
	for i := 0; i < 20; i++ { // the scenarios cut the test's connections too
		var groups []ops.Group
		if groups, err = ops.CountRequests(context.Background(), db, time.Now()); err == nil {
			for _, g := range groups {
				n += g.Due
			}
			return n
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("count requests: %v", err)
	return 0
}

// pendingBreakdown says what the PENDING requests are waiting for, for a failure's
// message: by attempts made and last error, with the soonest next attempt.
func pendingBreakdown(t *testing.T, db *store.DB) string {
	t.Helper()
	var rows []struct {
		Attempts int            `db:"attempts"`
		Code     string         `db:"code"`
		N        int            `db:"n"`
		Next     sql.NullString `db:"next"`
		Leased   int            `db:"leased"`
	}
	err := db.Select(&rows, `SELECT attempts, coalesce(error_code, '') AS code, count(*) AS n,
	        (min(next_attempt_at) - now())::text AS next, count(*) FILTER (WHERE lease_expires_at > now()) AS leased
	    FROM provisioning_requests WHERE life_cycle_state = 'PENDING'
	    GROUP BY 1, 2 ORDER BY 1, 2`)
	if err != nil {
		return "breakdown: " + err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "claimable now: %d\nattempts  error code  requests  leased  next attempt in\n", claimable(t, db))
	for _, r := range rows {
		fmt.Fprintf(&b, "%8d  %-10s  %8d  %6d  %s\n", r.Attempts, r.Code, r.N, r.Leased, r.Next.String)
	}
	return b.String()
}

func count(t *testing.T, db *store.DB, q string, args ...any) int {
	t.Helper()
	var n int
	var err error
	// A few tries: the scenarios restart the server and cut connections under the
	// test's own pool too.
	for i := 0; i < 20; i++ {
		if err = db.Get(&n, q, args...); err == nil {
			return n
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: %v", q, err)
	return 0
}

// dueSQL is true of a PENDING request that is due and can be sent: its scheduled
// date has come and no earlier request of its card waits for a later date (that one
// holds it back, as the order requires).
const dueSQL = `r.scheduled_date <= now() AND NOT EXISTS (SELECT 1 FROM provisioning_requests p
    WHERE p.smartcard_ca_id = r.smartcard_ca_id AND p.life_cycle_state = 'PENDING'
      AND p.sequence_number < r.sequence_number AND p.scheduled_date > now())`

// pendingDue counts PENDING requests that are due and can be sent.
func pendingDue(t *testing.T, db *store.DB) int {
	return count(t, db, `SELECT count(*) FROM provisioning_requests r WHERE r.life_cycle_state = 'PENDING' AND `+dueSQL)
}

// dueNow counts PENDING requests a run could claim now (no backoff, no live lease).
func dueNow(t *testing.T, db *store.DB) int {
	return count(t, db, `SELECT count(*) FROM provisioning_requests r WHERE r.life_cycle_state = 'PENDING' AND `+dueSQL+`
	    AND coalesce(r.next_attempt_at, '-infinity') <= now() AND coalesce(r.lease_expires_at, '-infinity') <= now()`)
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// outcome is what the check found.
type outcome struct {
	requests, lost, twice, outOfOrder, completed, applied int
}

// check is the check every scenario ends with:
//
//	every due request COMPLETED or REJECTED (but those held back behind an earlier
//	request of their card scheduled for later), and none settled still claimed;
//	no command_id applied twice at the gateway (the simulator's applied log);
//	per smartcard, commands applied in increasing sequence order, among the requests
//	of one import file (or all those not from a file): two files imported at the same
//	time by two hosts have no order between them, since sequence numbers are taken as
//	rows are written, not at commit (a file committed first, with higher numbers, is
//	rightly sent before one still being imported);
//	every applied command is a COMPLETED request, and every COMPLETED request was applied;
//	with want > 0: exactly want requests exist (none lost, none created twice).
func check(t *testing.T, db *store.DB, sim *simulator.Simulator, want int) outcome {
	t.Helper()
	var o outcome
	type req struct {
		Number  string `db:"number"`
		Seq     int64  `db:"sequence_number"`
		Card    string `db:"smartcard_ca_id"`
		State   string `db:"life_cycle_state"`
		Due     bool   `db:"due"`
		Claimed bool   `db:"claimed"`
		File    int64  `db:"file"`
	}
	var reqs []req
	if err := db.Select(&reqs, `SELECT number::text AS number, sequence_number, smartcard_ca_id, life_cycle_state,
	        (`+dueSQL+`) AS due, claimed_by IS NOT NULL AS claimed, coalesce(source_file_id, 0) AS file
	    FROM provisioning_requests r`); err != nil {
		t.Fatal(err)
	}
	o.requests = len(reqs)
	bad := 0
	report := func(format string, args ...any) {
		t.Helper()
		if bad++; bad <= 15 {
			t.Errorf(format, args...)
		}
	}
	if want > 0 && len(reqs) != want {
		o.lost += max(0, want-len(reqs))
		report("%d requests in the database, want %d", len(reqs), want)
	}
	byNumber := make(map[string]*req, len(reqs))
	for i := range reqs {
		r := &reqs[i]
		byNumber[r.Number] = r
		switch {
		case r.State == "COMPLETED":
			o.completed++
		case r.State == "REJECTED":
		case r.Due:
			o.lost++
			report("request %s (card %s, seq %d): %s", r.Number, r.Card, r.Seq, r.State)
		}
		if r.State != "PENDING" && r.Claimed {
			report("request %s: %s but still claimed", r.Number, r.State)
		}
	}
	seen := map[string]bool{}
	type cardOfFile struct {
		card string
		file int64
	}
	last := map[cardOfFile]int64{}
	log := sim.AppliedLog()
	o.applied = len(log)
	for _, e := range log {
		if seen[e.CommandID] {
			o.twice++
			report("command_id %s applied twice", e.CommandID)
			continue
		}
		seen[e.CommandID] = true
		r := byNumber[e.CommandID]
		if r == nil {
			report("applied command_id %s is no request's number", e.CommandID)
			continue
		}
		if l, ok := last[cardOfFile{r.Card, r.File}]; ok && r.Seq <= l {
			o.outOfOrder++
			report("smartcard %s: seq %d applied after seq %d", r.Card, r.Seq, l)
		}
		last[cardOfFile{r.Card, r.File}] = r.Seq
		if r.State != "COMPLETED" {
			report("command_id %s applied, but the request is %s", e.CommandID, r.State)
		}
	}
	if o.completed != len(seen) {
		report("%d requests COMPLETED, the gateway applied %d commands", o.completed, len(seen))
	}
	if bad > 15 {
		t.Errorf("… and %d more problems", bad-15)
	}
	return o
}

// checkFiles checks that every file (its sha256, by name) was imported exactly once,
// and that the requests it created are its rows_created, each line once. It returns
// the requests the files created.
func checkFiles(t *testing.T, db *store.DB, shas map[string]string) int {
	t.Helper()
	total := 0
	for name, sha := range shas {
		var files []struct {
			ID      int64 `db:"id"`
			Created int   `db:"rows_created"`
		}
		if err := db.Select(&files, `SELECT id, rows_created FROM import_files WHERE sha256 = $1 AND state = 'IMPORTED'`, sha); err != nil {
			t.Fatal(err)
		}
		if len(files) != 1 {
			t.Errorf("file %s: imported %d times, want once", name, len(files))
			continue
		}
		n := count(t, db, `SELECT count(*) FROM provisioning_requests WHERE source_file_id = $1`, files[0].ID)
		lines := count(t, db, `SELECT count(DISTINCT source_line) FROM provisioning_requests WHERE source_file_id = $1`, files[0].ID)
		if n != files[0].Created || lines != n {
			t.Errorf("file %s: %d requests over %d lines, the import recorded %d created", name, n, lines, files[0].Created)
		}
		total += n
	}
	if n := count(t, db, `SELECT count(*) FROM provisioning_requests WHERE source_file_id IS NOT NULL
	        AND source_file_id NOT IN (SELECT id FROM import_files WHERE state = 'IMPORTED')`); n != 0 {
		t.Errorf("%d requests come from no imported file", n)
	}
	return total
}

// insert inserts the workload's requests, due now.
func insert(t *testing.T, db *store.DB, w workload) {
	t.Helper()
	for i := 0; i < len(w.reqs); i += 1000 {
		pgtest.Requests(t, db, w.reqs[i:min(i+1000, len(w.reqs))]...)
	}
}

// openDB opens a database for the test's own checks.
func openDB(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, store.Options{Conns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// createDB creates a migrated database on a server of the test's own and returns
// its URL (the server goes with the test, so the database is not dropped).
func createDB(t *testing.T, adminURL, serverURL func(string) string, name string) string {
	t.Helper()
	admin, err := sql.Open("postgres", adminURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	if _, _, err := store.Migrate(context.Background(), adminURL(name)); err != nil {
		t.Fatalf("migrate %s: %v", name, err)
	}
	return serverURL(name)
}

func itoa(n int) string { return fmt.Sprint(n) }

// simulator0 is a gateway with a little latency and no fault.
func simulator0() simulator.Faults {
	return simulator.Faults{Latency: 5 * time.Millisecond, Jitter: 10 * time.Millisecond}
}

// schedConf is a scheduler's configuration file for a scenario.
type schedConf struct {
	dsn, gateway, instance string
	process, imports       string // cron specs with seconds; "" leaves the job unscheduled
	maxAttempts            int    // 0: 100, so that faults reject nothing
	inbox                  string
	extraProcess           string // more lines of [jobs.process]
}

// write writes the file into dir and returns its path.
func (c schedConf) write(t *testing.T, dir string) string {
	t.Helper()
	inbox := ""
	if c.inbox != "" {
		inbox = fmt.Sprintf("inbox = %q\nsettle = \"0s\"\n", c.inbox)
	}
	s := fmt.Sprintf(`[log]
level = "warn"
format = "json"

[database]
url = %q

[gateway]
url = %q
destination = %q
batch_timeout = "1s"

[scheduler]
grace_period = "5s"
instance = %q

[jobs.import]
schedule = %q
%s
[jobs.process]
schedule = %q
batch_size = 20
concurrency = 3
lease = "3s"
max_attempts = %d
%s
[jobs.housekeeping]
schedule = ""
`, c.dsn, c.gateway, dest, c.instance, c.imports, inbox, c.process, cmp.Or(c.maxAttempts, 100), c.extraProcess)
	path := dir + "/provisioner-" + c.instance + ".toml"
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// pqArray passes a Go slice as a PostgreSQL array.
func pqArray(v any) any { return pq.Array(v) }
