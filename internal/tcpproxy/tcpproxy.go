package tcpproxy

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Mode is what a Proxy does with connections.
type Mode int

// The modes of a Proxy.
const (
	// Pass forwards every connection to the target.
	Pass Mode = iota
	// Refuse closes the listening socket (a new connection is refused, as by a
	// host whose server is down) and closes the connections open.
	Refuse
	// Blackhole accepts connections and forwards nothing either way, as a network
	// that drops every packet: the open connections hang, and so do new ones. Back
	// in Pass, the traffic they held flows again (a healed partition).
	Blackhole
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Refuse:
		return "refuse"
	case Blackhole:
		return "blackhole"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// dialTimeout bounds the proxy's own connection to the target: a target that does
// not answer ends the client's connection instead of holding it.
const dialTimeout = 5 * time.Second

// Proxy forwards TCP connections from its address (on loopback) to a target, in the
// mode the test sets.
type Proxy struct {
	addr, target string

	mu    sync.Mutex
	mode  Mode
	ln    net.Listener
	conns map[net.Conn]bool // both ends of every connection through the proxy
	open  chan struct{}     // closed while traffic may flow (Pass); replaced on leaving Pass
	done  bool
	wg    sync.WaitGroup
}

// New listens on 127.0.0.1 (a free port) and forwards to target (host:port), in Pass.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy listen: %w", err)
	}
	p := &Proxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}, open: make(chan struct{})}
	close(p.open)
	p.serve(ln)
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// Target is the host:port the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Set switches the mode. Leaving Refuse listens again on the same address.
func (p *Proxy) Set(m Mode) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return errors.New("proxy closed")
	}
	if m == p.mode {
		return nil
	}
	switch m {
	case Refuse:
		p.ln.Close()
		p.ln = nil
		p.closeConns()
	case Pass, Blackhole:
		if p.ln == nil {
			ln, err := net.Listen("tcp", p.addr)
			if err != nil {
				return fmt.Errorf("proxy listen again on %s: %w", p.addr, err)
			}
			p.ln = ln
			p.serve(ln)
		}
	default:
		return fmt.Errorf("proxy: unknown mode %v", m)
	}
	if p.mode == Pass {
		p.open = make(chan struct{}) // traffic waits on it
	}
	if m == Pass {
		close(p.open)
	}
	p.mode = m
	return nil
}

// Cut closes every connection open through the proxy, both ends, and returns how
// many client connections it cut; the mode stays, so in Pass new connections go
// through (a link reset, as by a firewall or a restarted pooler).
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closeConns()
}

// Conns is the number of client connections open through the proxy.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, client := range p.conns {
		if client {
			n++
		}
	}
	return n
}

// closeConns closes every connection and untracks it, so that a connection held in
// the blackhole ends instead of flowing once back in Pass. p.mu is held.
func (p *Proxy) closeConns() int {
	n := 0
	for c, client := range p.conns {
		c.Close()
		if client {
			n++
		}
	}
	clear(p.conns)
	return n
}

// Close stops listening, closes every connection and waits for the proxy's
// goroutines to end.
func (p *Proxy) Close() {
	p.mu.Lock()
	if !p.done {
		p.done = true
		if p.ln != nil {
			p.ln.Close()
		}
		p.closeConns()
		if p.mode != Pass {
			close(p.open) // release the connections waiting to flow: they see done
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) serve(ln net.Listener) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.handle(c)
			}()
		}
	}()
}

// track adds a connection (client: the accepted end); it refuses once refusing or
// closed.
func (p *Proxy) track(c net.Conn, client bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done || p.mode == Refuse {
		return false
	}
	p.conns[c] = client
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// gate returns when traffic may flow on c, or false when c must end (closed by
// Refuse, Cut or Close meanwhile).
func (p *Proxy) gate(c net.Conn) bool {
	p.mu.Lock()
	open, tracked := p.open, p.isTracked(c)
	p.mu.Unlock()
	if !tracked {
		return false
	}
	<-open
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.isTracked(c) && !p.done
}

func (p *Proxy) isTracked(c net.Conn) bool {
	_, ok := p.conns[c]
	return ok
}

func (p *Proxy) handle(client net.Conn) {
	defer client.Close()
	if !p.track(client, true) {
		return
	}
	defer p.untrack(client)
	// A connection accepted in Blackhole does not reach the target until Pass.
	if !p.gate(client) {
		return
	}
	server, err := net.DialTimeout("tcp", p.target, dialTimeout)
	if err != nil {
		return
	}
	defer server.Close()
	if !p.track(server, false) {
		return
	}
	defer p.untrack(server)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pump(server, client) }()
	go func() { defer wg.Done(); p.pump(client, server) }()
	wg.Wait()
}

// pump copies src to dst chunk by chunk, each chunk held while the proxy is not in
// Pass. Ending either direction ends both.
func (p *Proxy) pump(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate(src) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
