package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// handle compares each card of a chunk with the gateway's answer, writes the drift
// report's rows and creates the corrections.
func (r *run) handle(ctx context.Context, ch *chunk) error {
	look := r.lookup() // what the instruction rules ask of a correction: its drifted card
	stbSerials := ch.stbs
	c := &r.sum.Counts
	// The report's rows wait in r.rows for their corrections, created together
	// (flush), to have their numbers.
	rows, reqs := r.rows, r.reqs
	defer func() { r.rows, r.reqs = rows, reqs }()
	for i := range ch.cards {
		cd := &ch.cards[i]
		st, known := ch.states[cd.CAID]
		switch {
		case cd.Busy:
			c.add(KindBusy)
			rows = append(rows, pendingRow{cd, KindBusy, "", "", "skipped: a request is pending", -1})
			continue
		case !known && ch.unknown[cd.CAID]:
			c.Checked++
			c.add(KindUnknown)
			rows = append(rows, pendingRow{cd, KindUnknown, "", "", "none: the gateway does not know the card", -1})
			continue
		case !known:
			return fmt.Errorf("gateway: no state for %s", cd.CAID) // checked with the answer: cannot happen
		case st.Status == casapi.SmartcardDisabled:
			c.Checked++
			c.add(KindDisabled)
			rows = append(rows, pendingRow{cd, KindDisabled, "", "", "none: DISABLED on the CAS", -1})
			continue
		}
		c.Checked++
		ds := ch.drifts[i]
		if len(ds) == 0 {
			c.InSync++
			continue
		}
		c.Drifted++
		look.add(cd)
		corrected := false
		for _, d := range ds {
			c.add(d.Kind)
			expected, actual := r.names(d.Expected, d.Kind, cd, stbSerials), r.names(d.Actual, d.Kind, cd, stbSerials)
			made, problem := r.corrections(cd, d, look)
			if problem != "" {
				c.Uncorrectable++
				rows = append(rows, pendingRow{cd, d.Kind, expected, actual, "not corrected: " + problem, -1})
				continue
			}
			for _, req := range made {
				c.Corrections++
				corrected = true
				action := string(req.Type)
				if r.opts.DryRun {
					action += " (dry run)"
				}
				rows = append(rows, pendingRow{cd, d.Kind, expected, actual, action, len(reqs)})
				reqs = append(reqs, req)
			}
		}
		if corrected {
			c.CorrectedCards++
		}
	}
	return nil
}

// flushAt is how many corrections wait before they are created in one statement:
// one a chunk (about ten, at 1% drift) made the insert's round trip and its
// planning the larger part of the run's one sequential step.
const flushAt = 1000

// flushIfDue creates the waiting corrections and writes the waiting rows when there
// are flushAt corrections, or when no row waits for a number.
func (r *run) flushIfDue(ctx context.Context) error {
	if len(r.reqs) >= flushAt || len(r.reqs) == 0 || r.opts.DryRun {
		return r.flush(ctx, true)
	}
	return nil
}

// flush creates the waiting corrections (when create; a failed run does not) and
// writes the waiting report rows with their numbers, in the cards' order.
func (r *run) flush(ctx context.Context, create bool) error {
	var numbers []int64
	if create && !r.opts.DryRun && len(r.reqs) > 0 {
		var err error
		if numbers, err = r.create(ctx, r.reqs); err != nil {
			return err
		}
	}
	for _, p := range r.rows {
		var number int64
		if p.req >= 0 && numbers != nil {
			number = numbers[p.req]
		}
		if err := r.row(p.card, p.kind, p.expected, p.actual, p.action, number); err != nil {
			return err
		}
	}
	clear(r.rows) // the rows point into their chunks' cards: let them go
	r.rows, r.reqs = r.rows[:0], r.reqs[:0]
	return nil
}

// pendingRow is a row of the drift report waiting for its request's number: req
// indexes the chunk's corrections, -1 for none.
type pendingRow struct {
	card                           *card
	kind, expected, actual, action string
	req                            int
}

// create inserts the chunk's corrections in one statement (insert_corrections.sql)
// and returns their numbers, in the order of reqs.
func (r *run) create(ctx context.Context, reqs []provisioning.Resolved) ([]int64, error) {
	n := len(reqs)
	types, prios, dates := make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n)
	now, subs := make(pq.BoolArray, n), make(pq.Int64Array, n)
	cards, svcs, stbs, pins, refs := make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n),
		make(pq.StringArray, n), make(pq.StringArray, n)
	for i := range reqs {
		q := &reqs[i]
		types[i], prios[i], dates[i] = string(q.Type), string(q.Priority), q.ScheduledDate.Format(time.RFC3339Nano)
		now[i], subs[i], cards[i] = q.ProcessImmediately, q.SubscriptionID, q.SmartcardCAID
		if len(q.ServiceCAIDs) > 0 {
			lit, err := pq.StringArray(q.ServiceCAIDs).Value()
			if err != nil {
				return nil, fmt.Errorf("create corrections: %w", err)
			}
			svcs[i] = lit.(string)
		}
		stbs[i], pins[i], refs[i] = q.STBCAID, q.PIN, q.Reference
	}
	var numbers []int64
	if err := r.insert.SelectContext(ctx, &numbers, types, prios, dates, now, subs, cards, svcs, stbs, pins, refs,
		r.sum.RunID); err != nil {
		return nil, fmt.Errorf("create corrections: %w", err)
	}
	if len(numbers) != n {
		return nil, fmt.Errorf("create corrections: %d numbers for %d corrections", len(numbers), n)
	}
	// RETURNING promises no order; the numbers rose in the arrays' order.
	slices.Sort(numbers)
	return numbers, nil
}

// prepare compares each card of a chunk the gateway answered for (ch.drifts), then
// looks up what handle needs of the database, in one statement: which drifted cards
// became busy (a recheck: the busy check came before the query) and the serial
// numbers of the STBs the gateway names where they differ from the CRM's.
func (r *run) prepare(ctx context.Context, ch *chunk) error {
	ch.drifts = make([][]drift, len(ch.cards))
	var drifted, stbs []string
	for i := range ch.cards {
		cd := &ch.cards[i]
		st, ok := ch.states[cd.CAID]
		if !ok || cd.Busy {
			continue
		}
		if st.STB != "" && st.STB != cd.STBCAID {
			stbs = append(stbs, st.STB)
		}
		if st.Status != casapi.SmartcardDisabled {
			if ch.drifts[i] = compare(cd, r.cat.expected(cd), st); len(ch.drifts[i]) > 0 {
				drifted = append(drifted, cd.CAID)
			}
		}
	}
	if len(drifted) == 0 && len(stbs) == 0 {
		return nil
	}
	busy, serials, err := r.look(ctx, drifted, stbs)
	if err != nil {
		return err
	}
	markBusy(ch, busy)
	ch.stbs = serials
	return nil
}

// checkBusy marks busy the chunk's cards that have a PENDING request, in flight or
// not: their state is about to change, so comparing them now would find false
// drift. From the pending set read at the start of the run when there is one, else
// asked just before the gateway query, in the workers: one statement a chunk of
// cards. Either way not a probe per row in the cursor, which held up the run's one
// sequential read.
func (r *run) checkBusy(ctx context.Context, ch *chunk) error {
	if r.pending != nil {
		for i := range ch.cards {
			if _, ok := r.pending[ch.cards[i].CAID]; ok {
				ch.cards[i].Busy = true
			}
		}
		return nil
	}
	ids := make([]string, len(ch.cards))
	for i := range ch.cards {
		ids[i] = ch.cards[i].CAID
	}
	busy, _, err := r.look(ctx, ids, nil)
	if err != nil {
		return err
	}
	markBusy(ch, busy)
	return nil
}

// maxPending is the most cards with a PENDING request that a run --all reads at its
// start (pendingSet): about 8 MB. Past it, each chunk asks (reconcile_lookup.sql), so that
// memory stays bounded however long the queue.
const maxPending = 100_000

// pendingSet reads the cards with a PENDING request, as the cursor's reading starts:
// nil when there are more than maxPending. Looked up in memory, the busy cards cost
// the database one statement for the fleet, where asking for each chunk cost 1.3 ms
// of its CPU a chunk (2.7 s over 1,000,000 cards) and probing in the cursor 4.1 s.
// A card that becomes busy later is seen by prepare's recheck if drifted, as with the
// cursor's own snapshot.
func pendingSet(ctx context.Context, db *store.DB) (map[string]struct{}, error) {
	var ids []string
	if err := db.SelectContext(ctx, &ids, provsql.PendingCards, maxPending+1); err != nil {
		return nil, fmt.Errorf("read busy cards: %w", err)
	}
	if len(ids) > maxPending {
		return nil, nil
	}
	set := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	return set, nil
}

// markBusy marks busy the cards of ch that busy names.
func markBusy(ch *chunk, busy map[string]bool) {
	if len(busy) == 0 {
		return
	}
	for i := range ch.cards {
		if busy[ch.cards[i].CAID] {
			ch.cards[i].Busy = true
		}
	}
}

// look asks the database (reconcile_lookup.sql, prepared once a run) which of the
// cards cards (CA ids) have a PENDING request now, and the serial numbers of the
// items items (CA ids).
func (r *run) look(ctx context.Context, cards, items []string) (map[string]bool, map[string]string, error) {
	rows, err := r.lookStmt.QueryContext(ctx, pq.StringArray(cards), pq.StringArray(items))
	if err != nil {
		return nil, nil, fmt.Errorf("look up busy cards and STBs: %w", err)
	}
	defer rows.Close()
	var busy map[string]bool
	var serials map[string]string
	for rows.Next() {
		var what, caID, serial string
		if err := rows.Scan(&what, &caID, &serial); err != nil {
			return nil, nil, fmt.Errorf("look up busy cards and STBs: %w", err)
		}
		if what == "busy" {
			if busy == nil {
				busy = make(map[string]bool)
			}
			busy[caID] = true
		} else {
			if serials == nil {
				serials = make(map[string]string)
			}
			serials[caID] = serial
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("look up busy cards and STBs: %w", err)
	}
	return busy, serials, nil
}

func (r *run) row(cd *card, kind, expected, actual, action string, number int64) error {
	n := ""
	if number != 0 {
		n = strconv.FormatInt(number, 10)
	}
	if err := r.rep.row([]string{cd.Serial, cd.SubscriptionNumber, kind, expected, actual, action, n}); err != nil {
		return fmt.Errorf("drift report: %w", err)
	}
	return nil
}

// corrections are the requests that set d right, made by the instruction rules as
// an imported row is (at most provisioning.MaxServices services each), or why the
// rules refuse them.
func (r *run) corrections(cd *card, d drift, look *chunkLookup) ([]provisioning.Resolved, string) {
	base := provisioning.Instruction{
		Action:             string(d.Action),
		SubscriptionNumber: cd.SubscriptionNumber,
		SmartcardSerial:    cd.Serial,
		Priority:           string(r.opts.Priority),
	}
	var ins []provisioning.Instruction
	if d.Action == provisioning.ActionPair {
		if d.CAIDs[0] != "" {
			base.STBSerial = cd.STBSerial
		}
		ins = append(ins, base)
	} else {
		var codes []string
		for _, ca := range d.CAIDs {
			p, ok := r.cat.byCA[ca]
			if !ok {
				return nil, fmt.Sprintf("product %s is in no product of the catalogue", ca)
			}
			codes = append(codes, p.Code)
		}
		for len(codes) > 0 {
			n := min(len(codes), provisioning.MaxServices)
			in := base
			in.Services, codes = codes[:n], codes[n:]
			ins = append(ins, in)
		}
	}
	out := make([]provisioning.Resolved, 0, len(ins))
	for _, in := range ins {
		draft, ps := provisioning.Parse(in, r.now)
		if len(ps) == 0 {
			var res provisioning.Resolved
			if res, ps = provisioning.Resolve(draft, look); len(ps) == 0 {
				out = append(out, res)
				continue
			}
		}
		return nil, provisioning.Join(ps)
	}
	return out, ""
}

// names are ids as the report shows them: product codes, STB serial numbers; a CA id
// the reference data does not name stays as it is.
func (r *run) names(ids []string, kind string, cd *card, stbs map[string]string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id
		switch kind {
		case KindMissingProducts, KindExtraProducts:
			if p, ok := r.cat.byCA[id]; ok {
				out[i] = p.Code
			}
		default:
			if id == cd.STBCAID && cd.STBSerial != "" {
				out[i] = cd.STBSerial
			} else if s, ok := stbs[id]; ok {
				out[i] = s
			}
		}
	}
	return strings.Join(out, ";")
}

// chunkLookup answers the instruction rules from the chunk's drifted cards and the
// catalogue (provisioning.Lookup): what a correction names is all there (the card,
// its subscription, the STB it should be paired with). Only the drifted cards are
// added: built for all 500 cards of every chunk, its maps were 6% of a run's CPU.
type chunkLookup struct {
	items map[string]provisioning.Item // by serial number: the cards and their expected STBs
	subs  map[string]int64
	cat   *catalogue
}

func (r *run) lookup() *chunkLookup {
	return &chunkLookup{items: map[string]provisioning.Item{}, subs: map[string]int64{}, cat: r.cat}
}

// add makes cd, its expected STB and its subscription known.
func (l *chunkLookup) add(cd *card) {
	l.items[cd.Serial] = provisioning.Item{Kind: provisioning.KindSmartcard, SerialNumber: cd.Serial, CAID: cd.CAID,
		SubscriptionID: cd.SubscriptionID, SubscriptionNumber: cd.SubscriptionNumber}
	if cd.STBSerial != "" {
		l.items[cd.STBSerial] = provisioning.Item{Kind: provisioning.KindSTB, SerialNumber: cd.STBSerial, CAID: cd.STBCAID}
	}
	if cd.SubscriptionNumber != "" {
		l.subs[cd.SubscriptionNumber] = cd.SubscriptionID
	}
}

func (l *chunkLookup) ItemBySerial(s string) (provisioning.Item, bool) {
	it, ok := l.items[s]
	return it, ok
}

func (l *chunkLookup) ItemByCAID(string) (provisioning.Item, bool) { return provisioning.Item{}, false }

func (l *chunkLookup) SubscriptionID(n string) (int64, bool) {
	id, ok := l.subs[n]
	return id, ok
}

func (l *chunkLookup) Product(code string) (provisioning.Product, bool) {
	p, ok := l.cat.byCode[code]
	return p, ok
}

func (l *chunkLookup) ReferenceUsed(string) bool { return false }
