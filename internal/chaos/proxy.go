package chaos

import (
	"errors"
	"fmt"
	"io"
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
	// host whose server is down) and resets the connections open.
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

// Proxy forwards TCP connections from its address (on loopback) to a target, in the
// mode the test sets: it stands between the program and PostgreSQL to make the
// database unreachable without touching the database.
type Proxy struct {
	addr, target string

	mu    sync.Mutex
	mode  Mode
	ln    net.Listener
	conns map[net.Conn]bool
	open  chan struct{} // closed while traffic may flow (Pass); replaced on leaving Pass
	done  bool
	wg    sync.WaitGroup
}

// NewProxy listens on 127.0.0.1 (any free port) and forwards to target, in Pass.
func NewProxy(target string) (*Proxy, error) {
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
	if p.mode == Pass {
		p.open = make(chan struct{}) // traffic waits on it
	}
	switch m {
	case Refuse:
		p.ln.Close()
		p.ln = nil
		for c := range p.conns {
			c.Close()
		}
	case Pass, Blackhole:
		if p.ln == nil {
			ln, err := net.Listen("tcp", p.addr)
			if err != nil {
				return fmt.Errorf("proxy listen again on %s: %w", p.addr, err)
			}
			p.ln = ln
			p.serve(ln)
		}
	}
	if m == Pass {
		close(p.open)
	}
	p.mode = m
	return nil
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.done = true
	if p.ln != nil {
		p.ln.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	if p.mode != Pass {
		close(p.open)
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

// track adds or removes a connection; it refuses to add once refusing or closed.
func (p *Proxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !add {
		delete(p.conns, c)
		return true
	}
	if p.done || p.mode == Refuse {
		return false
	}
	p.conns[c] = true
	return true
}

// gate returns when traffic may flow, or false when the connection must end.
func (p *Proxy) gate(c net.Conn) bool {
	p.mu.Lock()
	open, tracked := p.open, p.conns[c]
	p.mu.Unlock()
	if !tracked {
		return false
	}
	<-open
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns[c] && !p.done
}

func (p *Proxy) handle(client net.Conn) {
	if !p.track(client, true) {
		client.Close()
		return
	}
	defer p.track(client, false)
	defer client.Close()
	// A connection accepted in Blackhole does not reach the target until Pass.
	if !p.gate(client) {
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(server, true) {
		server.Close()
		return
	}
	defer p.track(server, false)
	defer server.Close()
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
			if !errors.Is(err, io.EOF) {
				return
			}
			return
		}
	}
}
