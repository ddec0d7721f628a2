package simulator

import (
	"github.com/provisioner/provisioner/casapi"
)

// decodeBatchFast decodes body in one scan when it has the common shape: an
// object with "batch_id" (a string) and "commands" (an array of objects with
// "command_id", "type", "smartcard", "stb", "pin" as strings and "products"
// as an array of strings), JSON whitespace anywhere between tokens. It
// reports false, and the caller must use decodeBatchStrict, on anything it
// cannot be sure to read as the strict path does: an escape or any byte
// outside printable ASCII in a string, a duplicate key (the strict path's
// maps keep the last), null, numbers, booleans, an unknown key, a field the
// command's type does not take, an empty products array, more than
// casapi.MaxBatch commands, trailing data, malformed JSON, or a batch that
// casapi.Batch.Validate refuses. So it never makes an error of its own.
//
// What it returns when it reports true is what decodeBatchStrict returns:
// Products is nil when absent and otherwise non-empty, the rest as read.
// Every string is a substring of one copy of body, so a stored command keeps
// that copy alive; the store keeps most commands of a batch anyway.
func decodeBatchFast(body []byte) (casapi.Batch, bool) {
	p := fastScanner{s: string(body)}
	b, ok := p.batch()
	if !ok || b.Validate() != nil {
		return casapi.Batch{}, false
	}
	return b, true
}

// fastScanner is decodeBatchFast's position in its copy of the body. Every
// method reports false when it meets what it does not handle.
type fastScanner struct {
	s string
	i int
	// products holds the products of every command in one backing array,
	// so a batch costs one growing slice instead of one per command.
	products []string
}

const (
	seenBatchID = 1 << iota
	seenCommands
)

const (
	seenCommandID = 1 << iota
	seenType
	seenSmartcard
	seenSTB
	seenPIN
	seenProducts
)

func (p *fastScanner) batch() (casapi.Batch, bool) {
	var b casapi.Batch
	if !p.open('{') {
		return b, false
	}
	var seen uint8
	for {
		key, ok := p.key()
		if !ok {
			return b, false
		}
		switch key {
		case "batch_id":
			if seen&seenBatchID != 0 {
				return b, false
			}
			seen |= seenBatchID
			b.BatchID, ok = p.str()
		case "commands":
			if seen&seenCommands != 0 {
				return b, false
			}
			seen |= seenCommands
			b.Commands, ok = p.commands()
		default:
			return b, false
		}
		if !ok {
			return b, false
		}
		more, ok := p.next('}')
		if !ok {
			return b, false
		}
		if !more {
			break
		}
	}
	p.ws()
	return b, p.i == len(p.s)
}

// commands reads the array of commands.
func (p *fastScanner) commands() ([]casapi.Command, bool) {
	if !p.open('[') {
		return nil, false
	}
	// A command on the wire takes at least 50 bytes: enough room for the
	// batch in one allocation, not far beyond it.
	cmds := make([]casapi.Command, 0, min((len(p.s)-p.i)/50+1, casapi.MaxBatch))
	for {
		if len(cmds) == casapi.MaxBatch {
			// More than MaxBatch: the strict path's 413 comes first.
			return nil, false
		}
		c, ok := p.command()
		if !ok {
			return nil, false
		}
		cmds = append(cmds, c)
		more, ok := p.next(']')
		if !ok {
			return nil, false
		}
		if !more {
			break
		}
	}
	// Products were sliced out of p.products while it still grew; point
	// every command at the final backing array, in order. The capacity is
	// cut so that an append to one command's products cannot write over
	// the next command's.
	off := 0
	for i := range cmds {
		if n := len(cmds[i].Products); n > 0 {
			cmds[i].Products = p.products[off : off+n : off+n]
			off += n
		}
	}
	return cmds, true
}

// command reads one command object.
func (p *fastScanner) command() (casapi.Command, bool) {
	var c casapi.Command
	p.ws()
	if !p.open('{') {
		return c, false
	}
	var seen uint8
	for {
		key, ok := p.key()
		if !ok {
			return c, false
		}
		var bit uint8
		var dst *string
		switch key {
		case "command_id":
			bit, dst = seenCommandID, &c.CommandID
		case "type":
			bit, dst = seenType, &c.Type
		case "smartcard":
			bit, dst = seenSmartcard, &c.Smartcard
		case "stb":
			bit, dst = seenSTB, &c.STB
		case "pin":
			bit, dst = seenPIN, &c.PIN
		case "products":
			bit = seenProducts
		default:
			return c, false
		}
		if seen&bit != 0 {
			return c, false
		}
		seen |= bit
		if dst != nil {
			*dst, ok = p.str()
		} else {
			c.Products, ok = p.productList()
		}
		if !ok {
			return c, false
		}
		more, ok := p.next('}')
		if !ok {
			return c, false
		}
		if !more {
			break
		}
	}
	// A field present on the wire that the type does not take is refused
	// by the strict path even when empty; Validate alone would let an
	// empty one pass.
	if seen&seenSTB != 0 && !casapi.Takes(c.Type, "stb") ||
		seen&seenPIN != 0 && !casapi.Takes(c.Type, "pin") ||
		seen&seenProducts != 0 && !casapi.Takes(c.Type, "products") {
		return c, false
	}
	return c, true
}

// productList reads a non-empty array of strings into p.products and returns
// the part it appended (see commands for why that is re-sliced later).
func (p *fastScanner) productList() ([]string, bool) {
	if !p.open('[') {
		return nil, false
	}
	lo := len(p.products)
	for {
		p.ws()
		s, ok := p.str()
		if !ok {
			// An empty array lands here too: the strict path refuses it.
			return nil, false
		}
		p.products = append(p.products, s)
		more, ok := p.next(']')
		if !ok {
			return nil, false
		}
		if !more {
			break
		}
	}
	return p.products[lo:], true
}

// open skips whitespace and the opening byte c.
func (p *fastScanner) open(c byte) bool {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// key reads an object key and its colon, and the whitespace after it.
func (p *fastScanner) key() (string, bool) {
	p.ws()
	k, ok := p.str()
	if !ok {
		return "", false
	}
	p.ws()
	if p.i >= len(p.s) || p.s[p.i] != ':' {
		return "", false
	}
	p.i++
	p.ws()
	return k, true
}

// next reads what follows a value: a comma (more is true) or the closing
// byte.
func (p *fastScanner) next(closing byte) (more, ok bool) {
	p.ws()
	if p.i >= len(p.s) {
		return false, false
	}
	switch p.s[p.i] {
	case ',':
		p.i++
		return true, true
	case closing:
		p.i++
		return false, true
	}
	return false, false
}

// str reads a string made only of printable ASCII without escapes, which
// decodes to itself.
func (p *fastScanner) str() (string, bool) {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return "", false
	}
	start := p.i + 1
	for j := start; j < len(p.s); j++ {
		switch c := p.s[j]; {
		case c == '"':
			p.i = j + 1
			return p.s[start:j], true
		case c < 0x20 || c >= 0x80 || c == '\\':
			return "", false
		}
	}
	return "", false
}

// ws skips JSON whitespace.
func (p *fastScanner) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}
