package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/provisioner/provisioner/ops"
)

// The bulk levers: a lever on everything a Requests filter matches. GET
// /console/bulk is the confirmation page, a dry run of the lever (ops.Pull or
// ops.Retry with DryRun) that shows the count and a sample; its form POSTs the
// count the operator saw, which ops checks as the CLI's --expect N: another count
// now refuses the lever (409), nothing changed.

// filterFields are the Requests page's filters, in the order the pages show them.
var filterFields = []string{"state", "type", "priority", "error_code", "smartcard", "subscription", "file",
	"reference_number", "created_since", "created_until", "executed_since", "executed_until", "number"}

var timeFields = []string{"created_since", "created_until", "executed_since", "executed_until"}

// BulkSample is how many of the matched requests the confirmation page shows; BulkShown
// how many the result page lists (every count is given in full).
const (
	BulkSample = 20
	BulkShown  = 500
)

var bulkLevers = []string{ops.ActionRetry, ops.ActionHold, ops.ActionRelease, ops.ActionCancel, ops.ActionReschedule, ops.ActionPriority}

type bulkData struct {
	Lever   string
	Params  []field // the lever's parameters as read, for the hidden fields and the text
	Filters []field // the filters, times made absolute (an age would move meanwhile)
	Query   string  // the filters and the lever, for links back
	Matched int
	Change  int
	Skipped []reasonCount
	Sample  []outcome
	Error   string
}

// reasonCount is how many requests a lever left alone for one kind of reason.
type reasonCount = ops.SkipCount

// bulkRequest reads a bulk lever's filters and parameters from the query (the
// confirmation) or the form (the lever itself); msg names what is wrong.
func (c *Console) bulkRequest(v url.Values) (ops.Filter, ops.Lever, bulkData, string) {
	now := c.now()
	d := bulkData{Lever: strings.ToLower(strings.TrimSpace(v.Get("lever")))}
	f, errs := requestFilter(v, now)
	// Positions and orders of a page, not filters.
	f.After, f.Before, f.Newest, f.BySettlement, f.At, f.Limit = 0, 0, false, false, time.Time{}, 0
	// The bulk pages show numbers, types and states, no names: a lever on 10,000
	// requests then reads no serial numbers or file names for them.
	f.NoNames = true
	q := url.Values{}
	for _, name := range filterFields {
		val := strings.TrimSpace(v.Get(name))
		if val == "" {
			continue
		}
		if slices.Contains(timeFields, name) {
			if t, err := ops.ParseTime(val, now); err == nil {
				val = t.UTC().Format(time.RFC3339Nano)
			}
		}
		d.Filters = append(d.Filters, field{name, val})
		q.Set(name, val)
	}
	l := ops.Lever{Action: d.Lever}
	msg := ""
	switch {
	case len(errs) > 0:
		msg = strings.Join(errs, "; ")
	case f.Empty():
		msg = "give at least one filter: a bulk lever never takes every request by default"
	case !slices.Contains(bulkLevers, d.Lever):
		msg = fmt.Sprintf("lever %q: give one of %s", d.Lever, strings.Join(bulkLevers, ", "))
	case d.Lever == ops.ActionRetry && len(f.States) > 0 && !slices.Equal(f.States, []string{"REJECTED"}):
		msg = fmt.Sprintf("state %s: only REJECTED requests can be retried: filter state REJECTED, or none", strings.Join(f.States, ","))
	case d.Lever != ops.ActionRetry && len(f.States) > 0 && !slices.Equal(f.States, []string{"PENDING"}):
		msg = fmt.Sprintf("state %s: only PENDING requests can be held, released, cancelled, rescheduled or reprioritised: filter state PENDING, or none", strings.Join(f.States, ","))
	case d.Lever != ops.ActionRetry:
		var m string
		// The lever's priority is new_priority: priority is a filter.
		l, m = leverOf(d.Lever, func(k string) string {
			if k == "priority" {
				k = "new_priority"
			}
			return v.Get(k)
		}, now)
		msg = m
	}
	switch {
	case (l.Action == ops.ActionHold || l.Action == ops.ActionCancel) && l.Reason != "":
		d.Params = append(d.Params, field{"reason", l.Reason})
	case l.Action == ops.ActionReschedule && !l.At.IsZero():
		d.Params = append(d.Params, field{"at", l.At.UTC().Format(time.RFC3339)})
	case l.Action == ops.ActionPriority && l.Priority != "":
		d.Params = append(d.Params, field{"new_priority", l.Priority})
	}
	q.Set("lever", d.Lever)
	for _, p := range d.Params {
		q.Set(p.Name, p.Value)
	}
	d.Query = q.Encode()
	return f, l, d, msg
}

// bulkConfirm is the confirmation page: the lever's dry run.
func (c *Console) bulkConfirm(w http.ResponseWriter, r *http.Request) {
	f, l, d, msg := c.bulkRequest(r.URL.Query())
	if msg != "" {
		d.Error = msg
		c.render(w, r, http.StatusBadRequest, "bulk", "Bulk "+d.Lever, d)
		return
	}
	actor := ops.Actor{Operator: sessionOf(r).Operator}
	if d.Lever == ops.ActionRetry {
		cands, err := ops.Retry(r.Context(), c.db, f, ops.RetryOptions{DryRun: true, Expect: -1, Now: c.now(), Actor: actor})
		var pin *ops.PINNeededError
		switch {
		case errors.As(err, &pin):
			d.Error = err.Error()
		case err != nil:
			c.fail(w, r, err)
			return
		}
		d.Matched, d.Change = len(cands), len(cands)
		for _, cd := range cands[:min(len(cands), BulkSample)] {
			d.Sample = append(d.Sample, outcome{Number: cd.Number, Changed: true, Type: cd.Type, State: cd.State,
				Detail: "would go back to PENDING, under command id " + cd.NextCommandID})
		}
	} else {
		// Counted in SQL, the first BulkSample read: the same count and reasons as
		// Pull's dry run, which read every match whole (10,000: 2.3 s).
		res, err := ops.PullSummary(r.Context(), c.db, f, l, c.now(), BulkSample)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		d.Matched, d.Change, d.Skipped = res.Matched, res.Changed, res.Skipped
		for _, o := range res.Sample {
			d.Sample = append(d.Sample, outcome{Number: o.Number, Changed: o.Changed, Skipped: o.Skipped, Type: o.Type, State: o.State,
				Detail: "would be changed"})
		}
	}
	status := http.StatusOK
	if d.Error != "" {
		status = http.StatusConflict
	}
	c.render(w, r, status, "bulk", "Bulk "+d.Lever, d)
}

// skippedBy counts the outcomes left alone by why, the reason's kind before its
// details (each "in flight: claimed by run 7, ..." counts as "in flight").
func skippedBy(os []ops.Outcome) []reasonCount {
	var out []reasonCount
	for _, o := range os {
		if o.Changed {
			continue
		}
		why := ops.SkipKind(o.Skipped)
		i := slices.IndexFunc(out, func(r reasonCount) bool { return r.Reason == why })
		if i < 0 {
			out = append(out, reasonCount{Reason: why})
			i = len(out) - 1
		}
		out[i].Count++
	}
	return out
}

// bulk pulls the lever, refused (409, nothing changed) when the count is not the one
// confirmed; recorded in the audit trail under the operator's name.
func (c *Console) bulk(w http.ResponseWriter, r *http.Request) {
	f, l, d, msg := c.bulkRequest(r.PostForm)
	res := resultData{What: "bulk " + d.Lever, Back: Prefix + "bulk?" + d.Query}
	expect, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("expect")))
	if msg == "" && (err != nil || expect < 0) {
		msg = "expect: the count confirmed is missing: open the confirmation page first"
	}
	if msg != "" {
		res.Error = msg
		c.render(w, r, http.StatusBadRequest, "result", res.What, res)
		return
	}
	s := sessionOf(r)
	actor := ops.Actor{Operator: s.Operator, Command: fmt.Sprintf("console: bulk %s %s (confirmed %d)", d.Lever, d.Query, expect)}
	var mismatch *ops.CountMismatchError
	if d.Lever == ops.ActionRetry {
		cands, err := ops.Retry(r.Context(), c.db, f, ops.RetryOptions{Expect: expect, Now: c.now(), Actor: actor})
		var pin *ops.PINNeededError
		switch {
		case errors.As(err, &mismatch):
			res.Error = countChanged(mismatch)
		case errors.As(err, &pin), errors.Is(err, ops.ErrChanged):
			res.Error = err.Error()
		case err != nil:
			c.fail(w, r, err)
			return
		}
		if res.Error == "" {
			res.Changed = len(cands)
			for _, cd := range cands[:min(len(cands), BulkShown)] {
				res.Outcomes = append(res.Outcomes, outcome{Number: cd.Number, Changed: true, Detail: "back to PENDING, to be sent under command id " + cd.NextCommandID})
			}
			res.Total = len(cands)
		}
		c.result(w, r, res)
		return
	}
	out, err := ops.Pull(r.Context(), c.db, f, l, ops.LeverOptions{Expect: expect, Now: c.now(), Actor: actor})
	switch {
	case errors.As(err, &mismatch):
		res.Error = countChanged(mismatch)
	case err != nil:
		c.fail(w, r, err)
		return
	default:
		res.Changed, res.Total, res.Skipped = out.Changed, len(out.Outcomes), skippedBy(out.Outcomes)
		for _, o := range out.Outcomes[:min(len(out.Outcomes), BulkShown)] {
			res.Outcomes = append(res.Outcomes, outcome{Number: o.Number, Changed: o.Changed, Skipped: o.Skipped})
		}
	}
	c.result(w, r, res)
}

// countChanged says why a bulk lever was refused; the result page says after it that
// nothing was changed.
func countChanged(e *ops.CountMismatchError) string {
	return fmt.Sprintf("%d requests match now, not the %d you confirmed: the queue changed since the confirmation page. Look again, and confirm the new count.", e.Matched, e.Expected)
}
