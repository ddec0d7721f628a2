package ops

import (
	"fmt"
	"strings"
	"time"
)

// DescribeWaits says in words what a PENDING request waits for ("" for a settled
// one): each reason of WaitFor (Wait.Describe); `requests show` and the console print it, "; " between them.
func DescribeWaits(waits []Wait) string {
	parts := make([]string, 0, len(waits))
	for _, w := range waits {
		parts = append(parts, w.Describe())
	}
	return strings.Join(parts, "; ")
}

// Describe says in words what w is.
func (w Wait) Describe() string {
	until := ""
	if w.Until != nil {
		until = w.Until.UTC().Format(time.RFC3339)
	}
	switch w.Kind {
	case WaitDue:
		return "nothing: the next processing run claims it"
	case WaitScheduled:
		return "its scheduled date, " + until
	case WaitRetry:
		s := "a retry at " + until + fmt.Sprintf(" (%d unsettled sends", w.Attempts)
		if w.ErrorCode != "" {
			s += ", last " + w.ErrorCode
		}
		return s + ")"
	case WaitHeld:
		s := "its release: held"
		if w.By != "" {
			s += " by " + w.By
		}
		if w.Since != nil {
			s += " since " + w.Since.UTC().Format(time.RFC3339)
		}
		if w.Reason != "" {
			s += " (" + w.Reason + ")"
		}
		return s + " (requests release N)"
	case WaitInFlight:
		run := "a run"
		if w.Run != nil {
			run = fmt.Sprintf("run %d", *w.Run)
		}
		return fmt.Sprintf("%s, which holds its lease until %s (sending it, or dead and the lease runs out)", run, until)
	case WaitBlocked:
		ahead := "1 request"
		if w.Ahead != 1 {
			ahead = fmt.Sprintf("%d requests", w.Ahead)
		}
		return fmt.Sprintf("request %d, the first of its smartcard's queue (%s ahead of it), which waits for %s",
			*w.Request, ahead, DescribeWaits(w.Blocker))
	}
	// A kind this build does not describe (WaitKind is an open list).
	return string(w.Kind)
}
