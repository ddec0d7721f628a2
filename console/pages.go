package console

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
)

var funcs = template.FuncMap{
	"time": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04:05Z")
		case *time.Time:
			if v == nil {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04:05Z")
		}
		return fmt.Sprint(t)
	},
	"describe": ops.DescribeWaits,
	"deref": func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	},
	"age":    func(s int64) string { return (time.Duration(s) * time.Second).String() },
	"list":   func(s ...string) []string { return s },
	"deref2": func(b *bool) bool { return b != nil && *b },
	"dur": func(d time.Duration) string {
		if d <= 0 {
			return ""
		}
		return d.Round(time.Millisecond).String()
	},
}

// The overview: what `provisioner status` shows (ops.Snapshot), and the pauses.
type overviewData struct {
	Status  ops.Status
	States  []stateCount
	Targets []string
	Notice  string
	Chart   chartData
	Failed  []ops.ImportedFile // the files refused whole lately
	Overdue int                // jobs overdue
}

type stateCount struct {
	State string
	Count int64
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	now := c.now()
	opts := ops.StatusOptions{Now: now, Jobs: c.opts.Jobs, Schedules: c.opts.Schedules, PendingCap: OverviewPendingCap}
	if c.opts.Inbox != "" {
		opts.Inbox, opts.CountInbox = c.opts.Inbox, countInbox
	}
	st, err := ops.Snapshot(r.Context(), c.db, opts)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := overviewData{Status: st, Targets: c.targets()}
	settled, err := ops.SettledPerMinute(r.Context(), c.db, now.Add(-24*time.Hour), now)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Chart = drawChart(settled, now)
	if d.Failed, err = ops.ImportFiles(r.Context(), c.db, string(importer.Refused), 0, 5); err != nil {
		c.fail(w, r, err)
		return
	}
	for _, j := range st.Jobs {
		if j.Overdue != nil && *j.Overdue {
			d.Overdue++
		}
	}
	for _, s := range []provisioning.State{provisioning.Pending, provisioning.Completed, provisioning.Rejected} {
		d.States = append(d.States, stateCount{string(s), st.Requests.ByState[string(s)]})
	}
	c.render(w, r, http.StatusOK, "overview", "Overview", d)
}

// countInbox counts an inbox's files by the importer's rules, for ops.Snapshot,
// which does not know the inbox's layout (as the status command does).
func countInbox(dir string) (ops.InboxFiles, error) {
	b, err := importer.InboxBacklog(dir)
	return ops.InboxFiles(b), err
}

func (c *Console) targets() []string {
	return append([]string{provisioning.PauseQueue}, c.opts.Jobs...)
}

// OverviewPendingCap is the most PENDING requests the overview breaks down by what
// they wait for (ops.StatusOptions.PendingCap): the breakdown reads and sorts every
// one of them (half a million took seconds), so that above it the overview says
// "more than" and `provisioner status` gives the rest.
const OverviewPendingCap = 5000

// PageSize is how many requests the Requests page lists; CountCap the most it counts
// exactly.
const (
	PageSize = 50
	CountCap = 10000
)

type requestsData struct {
	Form     url.Values
	Levers   []string // the bulk levers, for an operator
	Filtered bool     // a filter is given: the bulk levers apply
	Hidden   []field  // the filters, for the bulk form
	Errors   []string
	Rows     []ops.Request
	Count    int64
	More     bool // more than CountCap match
	Cap      int64
	Next     string // the next page's URL, "" on the last
	First    string // the first page's URL, "" on it
	States   []string
	Types    []string
	Priority []string
	// Sort is the order shown (ops.Sorts), the one asked or the default;
	// BySettlement: by settlement time, so the PENDING requests are left out.
	Sort         string
	BySettlement bool
}

// requestFilter reads the Requests page's filters, those of `requests list`: every
// mistake is named, by field.
func requestFilter(q url.Values, now time.Time) (ops.Filter, []string) {
	var f ops.Filter
	var errs []string
	list := func(field string, parse func(string) ([]string, error), to *[]string) {
		if v := strings.TrimSpace(q.Get(field)); v != "" {
			vals, err := parse(v)
			if err != nil {
				errs = append(errs, field+": "+err.Error())
				return
			}
			*to = vals
		}
	}
	list("state", ops.ParseStates, &f.States)
	list("type", ops.ParseTypes, &f.Types)
	list("priority", ops.ParsePriorities, &f.Priorities)
	list("error_code", ops.ParseErrorCodes, &f.ErrorCodes)
	f.Smartcard = strings.TrimSpace(q.Get("smartcard"))
	f.Subscription = strings.TrimSpace(q.Get("subscription"))
	f.File = strings.TrimSpace(q.Get("file"))
	f.ReferenceNumber = strings.TrimSpace(q.Get("reference_number"))
	for _, t := range []struct {
		field string
		to    *time.Time
	}{{"created_since", &f.CreatedSince}, {"created_until", &f.CreatedUntil}, {"executed_since", &f.ExecutedSince}, {"executed_until", &f.ExecutedUntil}} {
		if v := strings.TrimSpace(q.Get(t.field)); v != "" {
			at, err := ops.ParseTime(v, now)
			if err != nil {
				errs = append(errs, t.field+": "+err.Error())
				continue
			}
			*t.to = at
		}
	}
	for _, n := range []struct {
		field string
		to    *int64
	}{{"number", &f.Number}, {"after", &f.After}, {"before", &f.Before}} {
		if v := strings.TrimSpace(q.Get(n.field)); v != "" {
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil || x < 0 {
				errs = append(errs, fmt.Sprintf("%s: %q is not a request number", n.field, v))
				continue
			}
			*n.to = x
		}
	}
	if v := strings.TrimSpace(q.Get("position_at")); v != "" {
		at, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("position_at: %q is not a settlement time (RFC 3339)", v))
		}
		f.At = at
	}
	// The sort reads the filters above: a settlement range sorts by settlement time
	// unless another sort is asked (ops.Filter.SetSort says why).
	if err := f.SetSort(q.Get("sort")); err != nil {
		errs = append(errs, "sort: "+err.Error())
	}
	if f.BySettlement && (f.After != 0 || f.Before != 0) && f.At.IsZero() {
		errs = append(errs, "position_at: a page by settlement time starts after a settlement time and a number: give both")
	}
	return f, errs
}

func (c *Console) requests(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := requestsData{Form: q, Cap: CountCap, States: []string{"PENDING", "COMPLETED", "REJECTED"},
		Priority: []string{string(provisioning.Express), string(provisioning.Regular)}}
	for _, t := range provisioning.Types {
		d.Types = append(d.Types, string(t))
	}
	f, errs := requestFilter(q, c.now())
	if sessionOf(r).Can(RoleOperator) {
		d.Levers = bulkLevers
	}
	d.Filtered = !f.Empty()
	for _, name := range filterFields {
		if v := strings.TrimSpace(q.Get(name)); v != "" {
			d.Hidden = append(d.Hidden, field{name, v})
		}
	}
	if len(errs) > 0 {
		d.Errors = errs
		c.render(w, r, http.StatusBadRequest, "requests", "Requests", d)
		return
	}
	d.Sort, d.BySettlement = sortName(f), f.BySettlement
	f.Limit = PageSize + 1 // one more: is there a next page?
	rows, err := ops.List(r.Context(), c.db, f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	// Keyset paging: the next page continues after the last number shown (before
	// it, newest first), and by settlement after its (settlement time, number), as
	// fast on the last page as on the first.
	pos := "after"
	if f.Newest {
		pos = "before"
	}
	if len(rows) > PageSize {
		rows = rows[:PageSize]
		next := cloneValues(q)
		next.Del("after")
		next.Del("before")
		next.Del("position_at")
		last := rows[len(rows)-1]
		next.Set(pos, strconv.FormatInt(last.Number, 10))
		if f.BySettlement && last.ExecutedDate != nil {
			next.Set("position_at", last.ExecutedDate.UTC().Format(time.RFC3339Nano))
		}
		d.Next = Prefix + "requests?" + next.Encode()
	}
	if f.After != 0 || f.Before != 0 {
		first := cloneValues(q)
		first.Del("after")
		first.Del("before")
		first.Del("position_at")
		d.First = Prefix + "requests?" + first.Encode()
	}
	for i := range rows {
		rows[i] = rows[i].Masked()
	}
	d.Rows = rows
	// The count is of the whole filter, not of the pages after this one.
	f.After, f.Before, f.At = 0, 0, time.Time{}
	n, err := ops.CountUpTo(r.Context(), c.db, f, CountCap)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Count, d.More = n, n > CountCap
	c.render(w, r, http.StatusOK, "requests", "Requests", d)
}

// sortName is the name (ops.Sorts) of f's order.
func sortName(f ops.Filter) string {
	name := "number"
	if f.BySettlement {
		name = "executed"
	}
	if f.Newest {
		if f.BySettlement {
			return name + "-newest"
		}
		return "newest"
	}
	return name
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		if len(vs) > 0 && vs[0] != "" {
			out[k] = append([]string(nil), vs...)
		}
	}
	return out
}

// field is one line of the Request page.
type field struct{ Name, Value string }

type requestData struct {
	Request  ops.Request
	Fields   []field
	Waits    []ops.Wait
	Attempts []ops.Attempt
	Levers   bool // the operator may pull them
	Pending  bool
	Rejected bool
}

func (c *Console) request(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.PathValue("number"), 10, 64)
	if err != nil || n <= 0 {
		c.render(w, r, http.StatusNotFound, "error", "Not found", fmt.Sprintf("%q is not a request number.", r.PathValue("number")))
		return
	}
	req, err := ops.Get(r.Context(), c.db, n)
	if errors.Is(err, ops.ErrNotFound) {
		c.render(w, r, http.StatusNotFound, "error", "Not found", fmt.Sprintf("No request has the number %d.", n))
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	req = req.Masked()
	d := requestData{Request: req, Levers: sessionOf(r).Can(RoleOperator),
		Pending: req.State == string(provisioning.Pending), Rejected: req.State == string(provisioning.Rejected)}
	if d.Waits, err = ops.WaitFor(r.Context(), c.db, req, c.now()); err != nil {
		c.fail(w, r, err)
		return
	}
	if d.Attempts, err = ops.Attempts(r.Context(), c.db, req.ID); err != nil {
		c.fail(w, r, err)
		return
	}
	d.Fields = requestFields(req)
	c.render(w, r, http.StatusOK, "request", fmt.Sprintf("Request %d", n), d)
}

// requestFields is every field of r (PIN masked), as `requests show` lists them.
func requestFields(r ops.Request) []field {
	tm := func(t *time.Time) string { return funcs["time"].(func(any) string)(t) }
	num := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	name := func(serial, id string) string {
		if serial != "" && id != "" {
			return serial + " (" + id + ")"
		}
		return serial + id
	}
	sched := r.ScheduledDate
	return []field{
		{"number", strconv.FormatInt(r.Number, 10)}, {"state", r.State}, {"type", r.Type}, {"priority", r.Priority},
		{"sequence number", strconv.FormatInt(r.SequenceNumber, 10)}, {"scheduled", tm(&sched)}, {"executed", tm(r.ExecutedDate)},
		{"process immediately", strconv.FormatBool(r.ProcessImmediately)}, {"subscription", r.Subscription},
		{"smartcard", name(r.SmartcardSerial, r.Smartcard)}, {"services", strings.Join(r.Services, ", ")},
		{"stb", name(r.STBSerial, r.STB)}, {"pin", r.PIN}, {"reference", r.Reference},
		{"source file", r.SourceFile}, {"source file id", num(r.SourceFileID)}, {"source line", num(r.SourceLine)},
		{"created by token", r.CreatedByToken}, {"updated by token", r.UpdatedByToken},
		{"command id", r.CommandID()}, {"command generation", strconv.Itoa(r.CommandGeneration)},
		{"attempts", strconv.Itoa(r.Attempts)}, {"next attempt", tm(r.NextAttemptAt)},
		{"claimed by run", num(r.ClaimedBy)}, {"lease until", tm(r.LeaseExpiresAt)},
		{"reference number", r.ReferenceNumber}, {"error code", r.ErrorCode}, {"error description", r.ErrorDescription},
		{"process", r.ProcessName}, {"process id", num(r.ProcessID)},
		{"retries", strconv.Itoa(r.Retries)}, {"retried at", tm(r.RetriedAt)}, {"retried error", r.RetriedError},
		{"held at", tm(r.HeldAt)}, {"held by", r.HeldBy}, {"held reason", r.HeldReason},
		{"created", tm(&r.CreatedAt)}, {"updated", tm(&r.UpdatedAt)},
	}
}
