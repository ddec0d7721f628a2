package importer

import (
	"fmt"
	"strings"

	"github.com/provisioner/provisioner/provisioning"
)

// Columns of the instruction file besides the instruction's own fields: a rejects
// file carries them, and must be importable again as it is once fixed.
const (
	colLine  = "line"
	colError = "error"
)

var instructionColumns = []string{
	provisioning.FieldAction,
	provisioning.FieldSubscription,
	provisioning.FieldSmartcardSerial,
	provisioning.FieldSmartcardCAID,
	provisioning.FieldSTBSerial,
	provisioning.FieldServices,
	provisioning.FieldPIN,
	provisioning.FieldPriority,
	provisioning.FieldScheduledDate,
	provisioning.FieldProcessImmediately,
	provisioning.FieldReference,
}

// layout maps the instruction fields to the file's column positions (-1: absent).
type layout struct {
	action, subscription, smartcardSerial, smartcardCAID, stbSerial       int
	services, pin, priority, scheduledDate, processImmediately, reference int
	line, err                                                             int // of a rejects file dropped back; ignored on input
}

// headerError is a header that makes the whole file unusable.
type headerError struct{ reason string }

func (e *headerError) Error() string { return "header: " + e.reason }

// newLayout checks a (normalised) header: it must name action, and every column must
// be known, so that a typo never silently drops a field.
func newLayout(header []string) (layout, error) {
	l := layout{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}
	pos := map[string]*int{
		provisioning.FieldAction:             &l.action,
		provisioning.FieldSubscription:       &l.subscription,
		provisioning.FieldSmartcardSerial:    &l.smartcardSerial,
		provisioning.FieldSmartcardCAID:      &l.smartcardCAID,
		provisioning.FieldSTBSerial:          &l.stbSerial,
		provisioning.FieldServices:           &l.services,
		provisioning.FieldPIN:                &l.pin,
		provisioning.FieldPriority:           &l.priority,
		provisioning.FieldScheduledDate:      &l.scheduledDate,
		provisioning.FieldProcessImmediately: &l.processImmediately,
		provisioning.FieldReference:          &l.reference,
		colLine:                              &l.line,
		colError:                             &l.err,
	}
	for i, name := range header {
		p, ok := pos[name]
		if !ok {
			reason := fmt.Sprintf("unknown column %q", name)
			if s := suggest(name); s != "" {
				reason += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return l, &headerError{reason + "; the columns are " + strings.Join(instructionColumns, ", ")}
		}
		*p = i
	}
	if l.action < 0 {
		return l, &headerError{fmt.Sprintf("no %q column", provisioning.FieldAction)}
	}
	return l, nil
}

// instruction reads one record's fields through the layout.
func (l *layout) instruction(f []string) provisioning.Instruction {
	get := func(i int) string {
		if i < 0 || i >= len(f) {
			return ""
		}
		return f[i]
	}
	return provisioning.Instruction{
		Action:             get(l.action),
		SubscriptionNumber: get(l.subscription),
		SmartcardSerial:    get(l.smartcardSerial),
		SmartcardCAID:      get(l.smartcardCAID),
		STBSerial:          get(l.stbSerial),
		Services:           provisioning.SplitServices(get(l.services)),
		PIN:                get(l.pin),
		Priority:           get(l.priority),
		ScheduledDate:      get(l.scheduledDate),
		ProcessImmediately: get(l.processImmediately),
		Reference:          get(l.reference),
	}
}

// suggest returns the known column closest to a misspelt one, if it is close.
func suggest(name string) string {
	best, bestDist := "", 4
	for _, c := range instructionColumns {
		if len(name) >= 4 && (strings.HasPrefix(c, name) || strings.HasPrefix(name, c)) {
			return c // a shortened or lengthened name: "smartcard_serial", "pin_code"
		}
		if d := editDistance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
