package simulator

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/provisioner/provisioner/casapi"
)

// processLocked answers one command: from the store when its command_id was
// processed before, otherwise afresh. s.mu must be held.
func (s *Simulator) processLocked(c casapi.Command) casapi.Result {
	if prev, ok := s.done[c.CommandID]; ok {
		if prev.cmd.SamePayload(c) {
			s.stats.Replayed++
			r := prev.res
			r.Replayed = true
			return r
		}
		s.stats.Rejected++
		return casapi.Result{
			CommandID:        c.CommandID,
			Status:           casapi.StatusRejected,
			Reference:        s.nextRefLocked(),
			ErrorCode:        casapi.ErrCodeCommandIDReused,
			ErrorDescription: fmt.Sprintf("command_id %s was used for another request", c.CommandID),
		}
	}
	if f := s.cfg.Faults.Busy; f > 0 && s.rng.Float64() < f {
		s.stats.Retried++
		s.stats.Faults.Busy++
		return casapi.Result{
			CommandID:        c.CommandID,
			Status:           casapi.StatusRetry,
			ErrorCode:        casapi.ErrCodeBusy,
			ErrorDescription: "smartcard is busy, send again later",
		}
	}
	res := casapi.Result{CommandID: c.CommandID, Reference: s.nextRefLocked()}
	if code, desc := s.applyLocked(c); code != "" {
		s.stats.Rejected++
		res.Status, res.ErrorCode, res.ErrorDescription = casapi.StatusRejected, code, desc
	} else {
		s.stats.Applied++
		res.Status = casapi.StatusCompleted
		s.appendLogLocked(AppliedEntry{
			Seq: s.logLen + 1, CommandID: c.CommandID, Type: c.Type,
			Smartcard: c.Smartcard, Reference: res.Reference,
		})
	}
	c.Products = slices.Clone(c.Products)
	s.done[c.CommandID] = stored{cmd: c, res: res}
	return res
}

// appendLogLocked adds e to the applied log. s.mu must be held.
func (s *Simulator) appendLogLocked(e AppliedEntry) {
	if n := len(s.log); n == 0 || len(s.log[n-1]) == cap(s.log[n-1]) {
		// Chunks double from 256 entries up to 8192, so that a simulator
		// of a small test does not allocate for a run.
		s.log = append(s.log, make([]AppliedEntry, 0, min(max(s.logLen, 256), 8192)))
	}
	last := &s.log[len(s.log)-1]
	*last = append(*last, e)
	s.logLen++
}

// nextRefLocked returns a fresh reference, "GW-%08d" of the counter (written
// without fmt, which cost more than the string for one per command).
func (s *Simulator) nextRefLocked() string {
	s.refs++
	var num, out [24]byte
	digits := strconv.AppendInt(num[:0], s.refs, 10)
	b := append(out[:0], "GW-"...)
	for range 8 - len(digits) {
		b = append(b, '0')
	}
	b = append(b, digits...)
	return string(b)
}

// applyLocked applies c whole, or returns the error code and description
// of why it changed nothing. s.mu must be held.
func (s *Simulator) applyLocked(c casapi.Command) (code, desc string) {
	sc, ok := s.cards[c.Smartcard]
	if !ok {
		return casapi.ErrCodeUnknownSmartcard, fmt.Sprintf("smartcard %s is not known", c.Smartcard)
	}
	unknownProduct := func() (string, string) {
		for _, p := range c.Products {
			if !s.products[p] {
				return casapi.ErrCodeUnknownProduct, fmt.Sprintf("product %s is not known", p)
			}
		}
		return "", ""
	}
	switch c.Type {
	case casapi.TypeAddProducts:
		if sc.disabled {
			return casapi.ErrCodeSmartcardDisabled, fmt.Sprintf("smartcard %s is disabled", c.Smartcard)
		}
		if code, desc := unknownProduct(); code != "" {
			return code, desc
		}
		for _, p := range c.Products {
			sc.products[p] = true
		}
	case casapi.TypeCancelProducts:
		if code, desc := unknownProduct(); code != "" {
			return code, desc
		}
		for _, p := range c.Products {
			if !sc.products[p] {
				return casapi.ErrCodeNotEntitled, fmt.Sprintf("smartcard %s is not entitled to %s", c.Smartcard, p)
			}
		}
		for _, p := range c.Products {
			delete(sc.products, p)
		}
	case casapi.TypePair:
		owner, known := s.stbs[c.STB]
		if !known {
			return casapi.ErrCodeUnknownSTB, fmt.Sprintf("STB %s is not known", c.STB)
		}
		if owner != "" && owner != c.Smartcard {
			return casapi.ErrCodeSTBPairedElsewhere, fmt.Sprintf("%s is paired with %s", c.STB, owner)
		}
		if sc.stb != "" {
			s.stbs[sc.stb] = ""
		}
		sc.stb = c.STB
		s.stbs[c.STB] = c.Smartcard
	case casapi.TypeUnpair:
		if sc.stb == "" {
			return casapi.ErrCodeNotPaired, fmt.Sprintf("smartcard %s is not paired", c.Smartcard)
		}
		s.stbs[sc.stb] = ""
		sc.stb = ""
	case casapi.TypeResetPIN:
		sc.pin = casapi.DefaultPIN
	case casapi.TypeSetPIN:
		if c.PIN == casapi.DefaultPIN {
			return casapi.ErrCodeInvalidPIN, fmt.Sprintf("PIN %s may not be set", casapi.DefaultPIN)
		}
		sc.pin = c.PIN
	case casapi.TypeResetSmartcard:
		// Sends the entitlements and the pairing to the card again: the
		// gateway's state does not change.
	default:
		// decodeBatch validated the type; reaching here is a simulator bug.
		panic("simulator: unvalidated command type " + c.Type)
	}
	return "", ""
}
