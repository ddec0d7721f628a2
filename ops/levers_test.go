package ops_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
	"github.com/provisioner/provisioner/simulator"
	"github.com/provisioner/provisioner/store"
)

// leverRow is what the levers change on a request.
type leverRow struct {
	State     string     `db:"life_cycle_state"`
	Priority  string     `db:"priority"`
	Scheduled time.Time  `db:"scheduled_date"`
	Held      bool       `db:"held"`
	HeldBy    string     `db:"held_by"`
	Reason    string     `db:"held_reason"`
	Code      string     `db:"error_code"`
	Desc      string     `db:"error_description"`
	Claimed   *int64     `db:"claimed_by"`
	Lease     *time.Time `db:"lease_expires_at"`
}

func leverRowOf(t *testing.T, db *store.DB, number int64) leverRow {
	t.Helper()
	var r leverRow
	if err := db.Get(&r, `SELECT life_cycle_state, priority, scheduled_date, held_at IS NOT NULL AS held,
	        coalesce(held_by, '') AS held_by, coalesce(held_reason, '') AS held_reason,
	        coalesce(error_code, '') AS error_code, coalesce(error_description, '') AS error_description,
	        claimed_by, lease_expires_at
	    FROM provisioning_requests WHERE number = $1`, number); err != nil {
		t.Fatal(err)
	}
	return r
}

func outcomes(res ops.LeverResult) map[int64]string {
	m := map[int64]string{}
	for _, o := range res.Outcomes {
		if o.Changed {
			m[o.Number] = "changed"
		} else {
			m[o.Number] = o.Skipped
		}
	}
	return m
}

// TestLevers: each lever on one request (by number) and on many (by filter): what
// it changes, what it skips and why (in flight, already so, not PENDING), dry runs
// and --expect change nothing, and every change is in the audit trail.
func TestLevers(t *testing.T) {
	later := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	type setup struct{ held, inFlight, settled bool }
	cases := []struct {
		name  string
		lever ops.Lever
		byNum bool // one request by number, else by --smartcard
		setup setup
		dry   bool
		// want: the outcome of the free request, of the one in flight, of the settled one.
		want  string
		check func(t *testing.T, r leverRow)
	}{
		{name: "hold one", lever: ops.Lever{Action: ops.ActionHold, Reason: "card swap"}, byNum: true, want: "changed",
			check: func(t *testing.T, r leverRow) {
				if !r.Held || r.HeldBy != "alice" || r.Reason != "card swap" || r.State != "PENDING" {
					t.Errorf("held: %+v", r)
				}
			}},
		{name: "hold many", lever: ops.Lever{Action: ops.ActionHold}, want: "changed",
			check: func(t *testing.T, r leverRow) {
				if !r.Held {
					t.Errorf("not held: %+v", r)
				}
			}},
		{name: "hold held", lever: ops.Lever{Action: ops.ActionHold}, setup: setup{held: true}, want: "already held"},
		{name: "release one", lever: ops.Lever{Action: ops.ActionRelease}, byNum: true, setup: setup{held: true}, want: "changed",
			check: func(t *testing.T, r leverRow) {
				if r.Held || r.HeldBy != "" {
					t.Errorf("still held: %+v", r)
				}
			}},
		{name: "release many", lever: ops.Lever{Action: ops.ActionRelease}, setup: setup{held: true}, want: "changed"},
		{name: "release not held", lever: ops.Lever{Action: ops.ActionRelease}, want: "not held"},
		{name: "cancel one", lever: ops.Lever{Action: ops.ActionCancel, Reason: "customer left"}, byNum: true, want: "changed",
			check: func(t *testing.T, r leverRow) {
				if r.State != "REJECTED" || r.Code != provisioning.CodeCancelled || r.Desc != "cancelled by alice: customer left" {
					t.Errorf("cancelled: %+v", r)
				}
			}},
		{name: "cancel many, held", lever: ops.Lever{Action: ops.ActionCancel, Reason: "x"}, setup: setup{held: true}, want: "changed",
			check: func(t *testing.T, r leverRow) {
				if r.State != "REJECTED" || r.Held {
					t.Errorf("cancelled: %+v", r)
				}
			}},
		{name: "reschedule one", lever: ops.Lever{Action: ops.ActionReschedule, At: later}, byNum: true, want: "changed",
			check: func(t *testing.T, r leverRow) {
				if !r.Scheduled.Equal(later) {
					t.Errorf("scheduled %v, want %v", r.Scheduled, later)
				}
			}},
		{name: "reschedule many", lever: ops.Lever{Action: ops.ActionReschedule, At: later}, want: "changed"},
		{name: "priority one", lever: ops.Lever{Action: ops.ActionPriority, Priority: "EXPRESS"}, byNum: true, want: "changed",
			check: func(t *testing.T, r leverRow) {
				if r.Priority != "EXPRESS" {
					t.Errorf("priority %s", r.Priority)
				}
			}},
		{name: "priority same", lever: ops.Lever{Action: ops.ActionPriority, Priority: "REGULAR"}, want: "already REGULAR"},
		{name: "dry run", lever: ops.Lever{Action: ops.ActionHold}, dry: true, want: "changed",
			check: func(t *testing.T, r leverRow) {
				if r.Held {
					t.Errorf("a dry run held it: %+v", r)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db, _ := pgtest.New(t)
			ctx := context.Background()
			future := time.Now().Add(time.Hour)
			free := insert(t, db, pgtest.RequestOpts{Smartcard: cardA})
			busy := insert(t, db, pgtest.RequestOpts{Smartcard: cardB, ClaimedBy: 7, LeaseExpiresAt: &future})
			done := insert(t, db, pgtest.RequestOpts{Smartcard: cardB, State: "COMPLETED"})
			if c.setup.held {
				if _, err := db.Exec(`UPDATE provisioning_requests SET held_at = now(), held_by = 'bob'`); err != nil {
					t.Fatal(err)
				}
			}
			before := leverRowOf(t, db, free)
			opts := ops.LeverOptions{DryRun: c.dry, Expect: -1, Now: time.Now(), Actor: ops.Actor{Operator: "alice", Command: "test " + c.name}}
			f := ops.Filter{Number: free}
			if !c.byNum {
				f = ops.Filter{Types: []string{"RESET_PIN"}}
			}
			res, err := ops.Pull(ctx, db, f, c.lever, opts)
			if err != nil {
				t.Fatal(err)
			}
			got := outcomes(res)
			if got[free] != c.want {
				t.Errorf("free request: %q, want %q (all: %v)", got[free], c.want, got)
			}
			if _, ok := got[done]; ok {
				t.Errorf("a COMPLETED request matched: %v", got)
			}
			if !c.byNum {
				if !strings.HasPrefix(got[busy], "in flight: claimed by run 7, lease until ") {
					t.Errorf("request in flight: %q", got[busy])
				}
				// In flight: untouched, lease and all.
				if r := leverRowOf(t, db, busy); r.Claimed == nil || *r.Claimed != 7 || r.State != "PENDING" || r.Priority != "REGULAR" {
					t.Errorf("request in flight was touched: %+v", r)
				}
			}
			if c.check != nil {
				c.check(t, leverRowOf(t, db, free))
			}
			if c.want != "changed" || c.dry {
				if after := leverRowOf(t, db, free); after != before {
					t.Errorf("changed by a lever that skipped it: %+v, was %+v", after, before)
				}
			}
			// The audit trail: one entry per lever that was not a dry run.
			es, err := ops.ListAudit(ctx, db, ops.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if c.dry {
				if len(es) != 0 {
					t.Errorf("a dry run was audited: %+v", es)
				}
				return
			}
			if len(es) != 1 {
				t.Fatalf("audit entries %+v, want 1", es)
			}
			e := es[0]
			wantNums := []int64{}
			if c.want == "changed" {
				wantNums = []int64{free}
			}
			if e.Operator != "alice" || e.Action != c.lever.Action || e.Command != "test "+c.name || e.Touched != len(wantNums) ||
				!slices.Equal([]int64(e.Numbers), wantNums) || !strings.Contains(string(e.Filters), `"filters"`) {
				t.Errorf("audit entry %+v (filters %s)", e, e.Filters)
			}
		})
	}
}

// TestLeverRefusals: a lever on a request that is not PENDING, or on a number no
// request has, says so; --expect with another count changes nothing; a lever's
// parameters are checked.
func TestLeverRefusals(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	done := insert(t, db, pgtest.RequestOpts{State: "COMPLETED"})
	free := insert(t, db, pgtest.RequestOpts{})
	opts := ops.LeverOptions{Expect: -1, Actor: ops.Actor{Operator: "alice"}}
	hold := ops.Lever{Action: ops.ActionHold}

	var np *ops.NotPendingError
	if _, err := ops.Pull(ctx, db, ops.Filter{Number: done}, hold, opts); !errors.As(err, &np) || np.State != "COMPLETED" {
		t.Errorf("lever on a COMPLETED request: %v", err)
	}
	if _, err := ops.Pull(ctx, db, ops.Filter{Number: 999}, hold, opts); !errors.Is(err, ops.ErrNotFound) {
		t.Errorf("lever on no request: %v", err)
	}
	opts.Expect = 2
	var mm *ops.CountMismatchError
	if _, err := ops.Pull(ctx, db, ops.Filter{Types: []string{"RESET_PIN"}}, hold, opts); !errors.As(err, &mm) || mm.Matched != 1 {
		t.Errorf("--expect 2 of 1: %v", err)
	}
	if r := leverRowOf(t, db, free); r.Held {
		t.Errorf("held despite the count mismatch")
	}
	opts.Expect = -1
	for _, l := range []ops.Lever{{Action: ops.ActionCancel}, {Action: ops.ActionReschedule}, {Action: ops.ActionPriority, Priority: "URGENT"}, {Action: "delete"}} {
		if _, err := ops.Pull(ctx, db, ops.Filter{Number: free}, l, opts); err == nil {
			t.Errorf("lever %+v accepted", l)
		}
	}
	if _, err := ops.Pull(ctx, db, ops.Filter{States: []string{"REJECTED"}}, hold, opts); err == nil {
		t.Errorf("a lever on REJECTED requests accepted")
	}
}

// gateway is the simulator over real HTTP, knowing cards, and a dispatcher on it.
func gateway(t *testing.T, db *store.DB, cards []string, latency time.Duration, opts dispatcher.Options) (*simulator.Simulator, *dispatcher.Dispatcher) {
	t.Helper()
	sim := simulator.New(simulator.Config{Token: "tok", DestinationID: "CRM01", Seed: 1, Faults: simulator.Faults{Latency: latency}}, simulator.Known{Smartcards: cards})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	client, err := dispatcher.NewClient(dispatcher.GatewayConfig{URL: srv.URL, Token: "tok", DestinationID: "CRM01", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	d, err := dispatcher.New(db, client, log, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sim, d
}

func appliedIDs(sim *simulator.Simulator) []string {
	var ids []string
	for _, e := range sim.AppliedLog() {
		ids = append(ids, e.CommandID)
	}
	return ids
}

func ids(ns ...int64) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = strconv.FormatInt(n, 10)
	}
	return out
}

// TestHoldBlocksCard: a held request is not sent, nor are the later requests of its
// card (an EXPRESS one included, which would otherwise promote the held head), while
// other cards' are; once released, the card's requests go in their order.
func TestHoldBlocksCard(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	sim, d := gateway(t, db, []string{cardA, cardB}, 0, dispatcher.Options{BatchSize: 10, Concurrency: 1})
	a1 := insert(t, db, pgtest.RequestOpts{Smartcard: cardA})
	a2 := insert(t, db, pgtest.RequestOpts{Smartcard: cardA, Priority: "EXPRESS"})
	b1 := insert(t, db, pgtest.RequestOpts{Smartcard: cardB})
	opts := ops.LeverOptions{Expect: -1, Actor: ops.Actor{Operator: "alice"}}
	if _, err := ops.Pull(ctx, db, ops.Filter{Number: a1}, ops.Lever{Action: ops.ActionHold}, opts); err != nil {
		t.Fatal(err)
	}
	if sum, err := d.Run(ctx); err != nil || sum.Completed != 1 {
		t.Fatalf("run with A held: %+v %v", sum, err)
	}
	if got := appliedIDs(sim); !slices.Equal(got, ids(b1)) {
		t.Fatalf("applied %v with A's head held, want B's only", got)
	}
	st, err := ops.Snapshot(ctx, db, ops.StatusOptions{Now: time.Now()})
	if p := st.Requests.Pending; err != nil || p.Held != 1 || p.Due != 0 || p.Blocked != 1 || p.BlockedBy.Held != 1 {
		t.Errorf("status pending %+v (%v), want 1 held and 1 blocked behind it", p, err)
	}
	if _, err := ops.Pull(ctx, db, ops.Filter{Smartcard: cardA}, ops.Lever{Action: ops.ActionRelease}, ops.LeverOptions{Expect: 2, Actor: opts.Actor}); err != nil {
		t.Fatal(err)
	}
	if sum, err := d.Run(ctx); err != nil || sum.Completed != 2 {
		t.Fatalf("run after the release: %+v %v", sum, err)
	}
	if got := appliedIDs(sim); !slices.Equal(got, ids(b1, a1, a2)) {
		t.Errorf("applied %v, want %v", got, ids(b1, a1, a2))
	}
}

// TestCancelThenRetry: a cancelled request is REJECTED E_CANCELLED, never sent, and
// a retry sends it under its own command_id.
func TestCancelThenRetry(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	sim, d := gateway(t, db, []string{cardA}, 0, dispatcher.Options{BatchSize: 10, Concurrency: 1})
	a1 := insert(t, db, pgtest.RequestOpts{Smartcard: cardA})
	a2 := insert(t, db, pgtest.RequestOpts{Smartcard: cardA})
	if _, err := ops.Pull(ctx, db, ops.Filter{Number: a1}, ops.Lever{Action: ops.ActionCancel, Reason: "wrong card"}, ops.LeverOptions{Expect: -1}); err != nil {
		t.Fatal(err)
	}
	if sum, err := d.Run(ctx); err != nil || sum.Completed != 1 {
		t.Fatalf("run: %+v %v", sum, err)
	}
	if got := appliedIDs(sim); !slices.Equal(got, ids(a2)) {
		t.Fatalf("applied %v, want the card's next request only", got)
	}
	cands, err := ops.Retry(ctx, db, ops.Filter{ErrorCodes: []string{provisioning.CodeCancelled}}, ops.RetryOptions{Expect: 1, Now: time.Now()})
	if err != nil || len(cands) != 1 || cands[0].NewCommandID || cands[0].NextCommandID != strconv.FormatInt(a1, 10) {
		t.Fatalf("retry of the cancelled request: %+v %v", cands, err)
	}
	if _, err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := appliedIDs(sim); !slices.Equal(got, ids(a2, a1)) {
		t.Errorf("applied %v, want %v", got, ids(a2, a1))
	}
	es, _ := ops.ListAudit(ctx, db, ops.AuditFilter{})
	if len(es) != 2 || es[0].Action != ops.ActionRetry || es[1].Action != ops.ActionCancel || es[1].Operator != ops.DefaultOperator() {
		t.Errorf("audit %+v", es)
	}
}

// TestLeversRaceRuns: levers pulled on requests while two processing runs send
// them: nothing held, cancelled or rescheduled is ever sent, nothing in flight is
// touched (every run writes back all it claimed: none lost), and each card's
// requests are applied in their order, none past a request still pending.
func TestLeversRaceRuns(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	const cards, perCard = 24, 8
	var cardIDs []string
	var reqs []pgtest.RequestOpts
	for c := 0; c < cards; c++ {
		card := fmt.Sprintf("30000000%02d", c)
		cardIDs = append(cardIDs, card)
		for i := 0; i < perCard; i++ {
			reqs = append(reqs, pgtest.RequestOpts{Smartcard: card})
		}
	}
	pgtest.Requests(t, db, reqs...)
	// Latency keeps the runs at it while the levers are pulled.
	sim, d := gateway(t, db, cardIDs, 15*time.Millisecond, dispatcher.Options{BatchSize: 4, Concurrency: 2})

	type req struct {
		Number int64  `db:"number"`
		Seq    int64  `db:"sequence_number"`
		Card   string `db:"smartcard_ca_id"`
	}
	var all []req
	if err := db.Select(&all, `SELECT number, sequence_number, smartcard_ca_id FROM provisioning_requests ORDER BY number`); err != nil {
		t.Fatal(err)
	}
	byCard := map[string][]req{}
	for _, r := range all {
		byCard[r.Card] = append(byCard[r.Card], r)
	}

	var wg sync.WaitGroup
	sums := make([]dispatcher.Summary, 2)
	errs := make([]error, 2)
	for i := range sums {
		wg.Add(1)
		go func() { defer wg.Done(); sums[i], errs[i] = d.Run(ctx) }()
	}
	// The levers start once the runs are sending.
	deadline := time.Now().Add(30 * time.Second)
	for sim.Stats().Batches == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no batch sent within 30s")
		}
		time.Sleep(time.Millisecond)
	}
	never := map[int64]string{} // changed by hold, cancel or reschedule: never to be sent
	skippedInFlight := 0
	opts := ops.LeverOptions{Expect: -1, Now: time.Now(), Actor: ops.Actor{Operator: "race"}}
	for c, card := range cardIDs {
		var l ops.Lever
		f := ops.Filter{Smartcard: card}
		switch c % 4 {
		case 0:
			l = ops.Lever{Action: ops.ActionHold, Reason: "race"}
		case 1:
			l = ops.Lever{Action: ops.ActionCancel, Reason: "race"}
			f = ops.Filter{Number: byCard[card][perCard/2].Number}
		case 2:
			l = ops.Lever{Action: ops.ActionReschedule, At: time.Now().Add(time.Hour)}
		case 3:
			l = ops.Lever{Action: ops.ActionPriority, Priority: "EXPRESS"}
		}
		opts.Now = time.Now()
		res, err := ops.Pull(ctx, db, f, l, opts)
		var np *ops.NotPendingError
		if errors.As(err, &np) {
			continue // sent already
		}
		if err != nil {
			t.Fatalf("%s on card %s: %v", l.Action, card, err)
		}
		for _, o := range res.Outcomes {
			switch {
			case o.Changed && l.Action != ops.ActionPriority:
				never[o.Number] = l.Action
			case strings.HasPrefix(o.Skipped, "in flight"):
				skippedInFlight++
			}
		}
	}
	wg.Wait()
	for i := range sums {
		if errs[i] != nil || sums[i].Lost != 0 || sums[i].Released != 0 || sums[i].Claimed != sums[i].Completed {
			t.Errorf("run %d: %+v %v: want every request it claimed written back", i, sums[i], errs[i])
		}
	}
	t.Logf("runs %+v / %+v; %d requests held, cancelled or rescheduled; %d skipped in flight", sums[0], sums[1], len(never), skippedInFlight)
	if len(never) == 0 {
		t.Fatal("no lever changed anything: the race was not run")
	}

	applied := map[string][]int64{}
	for _, e := range sim.AppliedLog() {
		n, err := strconv.ParseInt(e.CommandID, 10, 64)
		if err != nil {
			t.Fatalf("command id %q", e.CommandID)
		}
		if a, ok := never[n]; ok {
			t.Errorf("request %d was sent after the lever %s changed it", n, a)
		}
		applied[e.Smartcard] = append(applied[e.Smartcard], n)
	}
	// Every changed request is as the lever left it.
	for n, a := range never {
		r := leverRowOf(t, db, n)
		ok := r.State == "PENDING" && r.Claimed == nil
		switch a {
		case ops.ActionHold:
			ok = ok && r.Held
		case ops.ActionCancel:
			ok = r.State == "REJECTED" && r.Code == provisioning.CodeCancelled
		case ops.ActionReschedule:
			ok = ok && r.Scheduled.After(time.Now())
		}
		if !ok {
			t.Errorf("request %d after %s: %+v", n, a, r)
		}
	}
	// Per card: applied in sequence order, none past the first request still pending.
	var pending []req
	if err := db.Select(&pending, `SELECT number, sequence_number, smartcard_ca_id FROM provisioning_requests WHERE life_cycle_state = 'PENDING'`); err != nil {
		t.Fatal(err)
	}
	firstPending := map[string]int64{}
	for _, p := range pending {
		if s, ok := firstPending[p.Card]; !ok || p.Seq < s {
			firstPending[p.Card] = p.Seq
		}
	}
	seqOf := map[int64]int64{}
	for _, r := range all {
		seqOf[r.Number] = r.Seq
	}
	for card, ns := range applied {
		for i, n := range ns {
			if i > 0 && seqOf[n] <= seqOf[ns[i-1]] {
				t.Errorf("card %s: %d applied after %d, out of order", card, n, ns[i-1])
			}
			if s, ok := firstPending[card]; ok && seqOf[n] > s {
				t.Errorf("card %s: %d applied past a pending request (sequence %d)", card, n, s)
			}
		}
	}
	// And the cards no lever stopped were sent whole.
	for c, card := range cardIDs {
		if c%4 == 3 && len(applied[card]) != perCard {
			t.Errorf("card %s (priority changed): %d of %d applied", card, len(applied[card]), perCard)
		}
	}
}

// TestLeversOnWaitingRequests: every lever on a card whose later requests are marked
// as waiting behind its head (waits_behind, migration 000031, as a file's rows are),
// then the runs: each card's requests are sent in their order, and every request
// that should be sent is (a mark left on a request that became its card's head would
// leave it unsent for good: the claim's index holds no marked request).
func TestLeversOnWaitingRequests(t *testing.T) {
	type pull struct {
		which []int // indexes into the card's requests a1, a2, a3
		lever ops.Lever
	}
	later := time.Now().Add(time.Hour)
	cases := []struct {
		name  string
		pulls [][]pull // per run: the levers pulled before it
		retry []int    // retried after the last run, then one run more
		want  []int    // A's requests applied, in order
	}{
		{"cancel the head", [][]pull{{{[]int{0}, ops.Lever{Action: ops.ActionCancel, Reason: "t"}}}}, nil, []int{1, 2}},
		{"cancel the second", [][]pull{{{[]int{1}, ops.Lever{Action: ops.ActionCancel, Reason: "t"}}}}, nil, []int{0, 2}},
		{"cancel the first two", [][]pull{{{[]int{0, 1}, ops.Lever{Action: ops.ActionCancel, Reason: "t"}}}}, nil, []int{2}},
		{"cancel the second, retry it", [][]pull{{{[]int{1}, ops.Lever{Action: ops.ActionCancel, Reason: "t"}}}}, []int{1}, []int{0, 2, 1}},
		{"cancel the head, retry it", [][]pull{{{[]int{0}, ops.Lever{Action: ops.ActionCancel, Reason: "t"}}}}, []int{0}, []int{1, 2, 0}},
		{"hold the head, then release it", [][]pull{
			{{[]int{0}, ops.Lever{Action: ops.ActionHold, Reason: "t"}}},
			{{[]int{0}, ops.Lever{Action: ops.ActionRelease}}},
		}, nil, []int{0, 1, 2}},
		{"reschedule the head later, then now", [][]pull{
			{{[]int{0}, ops.Lever{Action: ops.ActionReschedule, At: later}}},
			{{[]int{0}, ops.Lever{Action: ops.ActionReschedule, At: time.Now().Add(-time.Minute)}}},
		}, nil, []int{0, 1, 2}},
		{"the last one EXPRESS", [][]pull{{{[]int{2}, ops.Lever{Action: ops.ActionPriority, Priority: "EXPRESS"}}}}, nil, []int{0, 1, 2}},
		{"hold the second, cancel the head, release", [][]pull{
			{{[]int{1}, ops.Lever{Action: ops.ActionHold, Reason: "t"}}, {[]int{0}, ops.Lever{Action: ops.ActionCancel, Reason: "t"}}},
			{{[]int{1}, ops.Lever{Action: ops.ActionRelease}}},
		}, nil, []int{1, 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := pgtest.New(t)
			ctx := context.Background()
			sim, d := gateway(t, db, []string{cardA, cardB}, 0, dispatcher.Options{BatchSize: 10, Concurrency: 1})
			got := pgtest.Requests(t, db, pgtest.RequestOpts{Smartcard: cardA}, pgtest.RequestOpts{Smartcard: cardA},
				pgtest.RequestOpts{Smartcard: cardA}, pgtest.RequestOpts{Smartcard: cardB})
			var marked []bool
			if err := db.Select(&marked, `SELECT waits_behind FROM provisioning_requests WHERE id = ANY ($1) ORDER BY id`, pq.Int64Array(got)); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(marked, []bool{false, true, true, false}) {
				t.Fatalf("marks %v, want A's second and third only", marked)
			}
			var nums []int64
			if err := db.Select(&nums, `SELECT number FROM provisioning_requests WHERE id = ANY ($1) ORDER BY id`, pq.Int64Array(got)); err != nil {
				t.Fatal(err)
			}
			a := nums[:3]
			opts := ops.LeverOptions{Expect: -1, Actor: ops.Actor{Operator: "alice"}}
			for _, run := range tc.pulls {
				for _, p := range run {
					for _, i := range p.which {
						if _, err := ops.Pull(ctx, db, ops.Filter{Number: a[i]}, p.lever, opts); err != nil {
							t.Fatalf("%s on A's request %d: %v", p.lever.Action, i+1, err)
						}
					}
				}
				if _, err := d.Run(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, i := range tc.retry {
				if _, err := ops.Retry(ctx, db, ops.Filter{Number: a[i]}, ops.RetryOptions{Expect: 1, Now: time.Now()}); err != nil {
					t.Fatal(err)
				}
				if _, err := d.Run(ctx); err != nil {
					t.Fatal(err)
				}
			}
			var want []int64
			for _, i := range tc.want {
				want = append(want, a[i])
			}
			var applied []int64
			for _, id := range appliedIDs(sim) {
				if n, _ := strconv.ParseInt(id, 10, 64); slices.Contains(a, n) {
					applied = append(applied, n)
				}
			}
			if !slices.Equal(applied, want) {
				t.Errorf("A's requests applied %v, want %v", applied, want)
			}
			var pending int
			if err := db.Get(&pending, `SELECT count(*) FROM provisioning_requests WHERE life_cycle_state = 'PENDING'`); err != nil || pending != 0 {
				t.Errorf("%d requests left PENDING (%v), want none", pending, err)
			}
		})
	}
}
