package console

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/provisioner/provisioner/ops"
)

// resultData is what a lever did: each request it matched, changed or skipped and
// why; or the error that refused it, with nothing changed.
type resultData struct {
	What     string
	Error    string
	Outcomes []outcome
	Changed  int
	Back     string
	// A bulk lever's: how many it matched (Outcomes may list fewer: BulkShown), and
	// how many it skipped, by why.
	Total   int
	Skipped []reasonCount
}

type outcome struct {
	Number  int64
	Changed bool
	Skipped string
	Detail  string
	// The confirmation page's sample shows them.
	Type, State string
}

// lever pulls one lever on one request, under the signed-in operator's name:
// ops.Retry for retry, ops.Pull for the others, which record it in the audit trail.
func (c *Console) lever(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	n, err := strconv.ParseInt(r.PathValue("number"), 10, 64)
	if err != nil || n <= 0 {
		c.render(w, r, http.StatusNotFound, "error", "Not found", fmt.Sprintf("%q is not a request number.", r.PathValue("number")))
		return
	}
	action := r.PathValue("lever")
	d := resultData{What: fmt.Sprintf("%s request %d", action, n), Back: fmt.Sprintf("%srequests/%d", Prefix, n)}
	now := c.now()
	actor := ops.Actor{Operator: s.Operator, Command: fmt.Sprintf("console: %s request %d", action, n)}
	f := ops.Filter{Number: n}
	if action == ops.ActionRetry {
		cands, err := ops.Retry(r.Context(), c.db, f, ops.RetryOptions{Expect: -1, Now: now, Actor: actor})
		var pin *ops.PINNeededError
		switch {
		case errors.As(err, &pin):
			d.Error = err.Error()
		case err != nil:
			c.fail(w, r, err)
			return
		case len(cands) == 0:
			d.Error = fmt.Sprintf("request %d is not REJECTED: only REJECTED requests can be retried; nothing retried", n)
		}
		for _, cd := range cands {
			d.Outcomes = append(d.Outcomes, outcome{Number: cd.Number, Changed: true, Detail: "back to PENDING, to be sent under command id " + cd.NextCommandID})
			d.Changed++
		}
		c.result(w, r, d)
		return
	}
	l, msg := leverOf(action, r.PostFormValue, now)
	if msg != "" {
		d.Error = msg
		c.result(w, r, d)
		return
	}
	res, err := ops.Pull(r.Context(), c.db, f, l, ops.LeverOptions{Expect: -1, Now: now, Actor: actor})
	var np *ops.NotPendingError
	switch {
	case errors.As(err, &np), errors.Is(err, ops.ErrNotFound):
		d.Error = err.Error()
	case err != nil:
		c.fail(w, r, err)
		return
	}
	for _, o := range res.Outcomes {
		d.Outcomes = append(d.Outcomes, outcome{Number: o.Number, Changed: o.Changed, Skipped: o.Skipped})
	}
	d.Changed = res.Changed
	c.result(w, r, d)
}

// leverOf reads a lever's form; msg names what is wrong with it ("" when nothing).
func leverOf(action string, get func(string) string, now time.Time) (ops.Lever, string) {
	l := ops.Lever{Action: action, Reason: strings.TrimSpace(get("reason")),
		Priority: strings.ToUpper(strings.TrimSpace(get("priority")))}
	if !slices.Contains([]string{ops.ActionHold, ops.ActionRelease, ops.ActionCancel, ops.ActionReschedule, ops.ActionPriority}, action) {
		return l, fmt.Sprintf("no such lever %q: retry, hold, release, cancel, reschedule or priority", action)
	}
	if action == ops.ActionReschedule {
		v := strings.TrimSpace(get("at"))
		// A browser's datetime-local field gives 2026-12-24T18:00 (read as UTC).
		at, err := time.Parse("2006-01-02T15:04", v)
		if err != nil {
			if at, err = ops.ParseTime(v, now); err != nil {
				return l, "at: " + err.Error()
			}
		}
		l.At = at
	}
	if err := l.Check(); err != nil {
		return l, err.Error()
	}
	return l, ""
}

func (c *Console) result(w http.ResponseWriter, r *http.Request, d resultData) {
	status := http.StatusOK
	if d.Error != "" {
		status = http.StatusConflict
	}
	c.render(w, r, status, "result", d.What, d)
}

func (c *Console) pauseTarget(w http.ResponseWriter, r *http.Request) (string, bool) {
	t := strings.ToLower(strings.TrimSpace(r.PostFormValue("target")))
	if !slices.Contains(c.targets(), t) {
		c.render(w, r, http.StatusBadRequest, "result", "Pause", resultData{What: "pause", Back: safeNext(r.PostFormValue("back")),
			Error: fmt.Sprintf("target %q: give one of %s", t, strings.Join(c.targets(), ", "))})
		return "", false
	}
	return t, true
}

// pause pauses a job's ticks or the queue's claims (ops.SetPause).
func (c *Console) pause(w http.ResponseWriter, r *http.Request) {
	t, ok := c.pauseTarget(w, r)
	if !ok {
		return
	}
	s := sessionOf(r)
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	already, err := ops.SetPause(r.Context(), c.db, t, reason, ops.Actor{Operator: s.Operator, Command: "console: pause " + t}, c.now())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := resultData{What: "pause " + t, Back: safeNext(r.PostFormValue("back")), Changed: 1}
	d.Outcomes = []outcome{{Changed: true, Detail: t + " paused"}}
	if already {
		d.Outcomes[0].Detail = t + " was already paused: its reason and operator are now yours"
	}
	c.result(w, r, d)
}

// resume ends a pause (ops.Resume).
func (c *Console) resume(w http.ResponseWriter, r *http.Request) {
	t, ok := c.pauseTarget(w, r)
	if !ok {
		return
	}
	s := sessionOf(r)
	p, err := ops.Resume(r.Context(), c.db, t, ops.Actor{Operator: s.Operator, Command: "console: resume " + t}, c.now())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := resultData{What: "resume " + t, Back: safeNext(r.PostFormValue("back"))}
	if p == nil {
		d.Outcomes = []outcome{{Skipped: t + " was not paused"}}
	} else {
		d.Changed = 1
		d.Outcomes = []outcome{{Changed: true, Detail: fmt.Sprintf("%s resumed (paused by %s since %s)", t, p.PausedBy, p.PausedAt.Format(time.RFC3339))}}
	}
	c.result(w, r, d)
}
