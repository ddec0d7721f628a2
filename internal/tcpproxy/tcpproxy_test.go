package tcpproxy

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer answers every line with itself, until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return l.Addr().String()
}

// conn is a client connection through the proxy, read line by line.
type conn struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, p *Proxy) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial in %v: %v", p.Mode(), err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{c, bufio.NewReader(c)}
}

// send writes msg; the error, if any, is the connection's end.
func (c *conn) send(msg string) error {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Write([]byte(msg + "\n"))
	return err
}

// recv reads a line within d.
func (c *conn) recv(d time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(d))
	return c.r.ReadString('\n')
}

// echoes says whether msg comes back within 5 s.
func (c *conn) echoes(msg string) bool {
	if c.send(msg) != nil {
		return false
	}
	got, err := c.recv(5 * time.Second)
	return err == nil && got == msg+"\n"
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func newProxy(t *testing.T) *Proxy {
	t.Helper()
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func set(t *testing.T, p *Proxy, m Mode) {
	t.Helper()
	if err := p.Set(m); err != nil {
		t.Fatalf("set %v: %v", m, err)
	}
}

// waitConns polls until n client connections are open through p.
func waitConns(t *testing.T, p *Proxy, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); p.Conns() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections through the proxy, want %d", p.Conns(), n)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition
	}
}

// TestCut: the links open are cut (both ends), new connections still pass.
func TestCut(t *testing.T) {
	p := newProxy(t)
	a, b := dial(t, p), dial(t, p)
	if !a.echoes("a") || !b.echoes("b") {
		t.Fatal("pass: no echo")
	}
	if n := p.Cut(); n != 2 {
		t.Errorf("Cut cut %d connections, want 2", n)
	}
	for _, c := range []*conn{a, b} {
		if _, err := c.recv(5 * time.Second); err == nil || isTimeout(err) {
			t.Errorf("a cut connection: read %v, want its end", err)
		}
	}
	if p.Mode() != Pass {
		t.Errorf("mode %v after Cut, want pass", p.Mode())
	}
	if c := dial(t, p); !c.echoes("c") {
		t.Error("a new connection after Cut: no echo")
	}
	waitConns(t, p, 1)
}

// TestRefuse: new connections refused, the open ones closed; back in Pass, the same
// address accepts again.
func TestRefuse(t *testing.T) {
	p := newProxy(t)
	open := dial(t, p)
	if !open.echoes("a") {
		t.Fatal("pass: no echo")
	}
	set(t, p, Refuse)
	if c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second); err == nil {
		c.Close()
		t.Error("refuse: a new connection was accepted")
	}
	if _, err := open.recv(5 * time.Second); err == nil || isTimeout(err) {
		t.Errorf("refuse: the open connection: read %v, want its end", err)
	}
	waitConns(t, p, 0)
	set(t, p, Pass)
	if c := dial(t, p); !c.echoes("b") {
		t.Error("pass after refuse: no echo")
	}
}

// TestBlackhole: connections open and new hang, nothing forwarded either way; back
// in Pass what they sent flows. Cut in the blackhole ends them instead.
func TestBlackhole(t *testing.T) {
	tests := []struct {
		name     string
		cut      bool // Cut while blackholed
		wantFlow bool
	}{
		{"healed", false, true},
		{"cut while held", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProxy(t)
			before := dial(t, p)
			if !before.echoes("a") {
				t.Fatal("pass: no echo")
			}
			set(t, p, Blackhole)
			held := dial(t, p) // accepted...
			for _, c := range []*conn{before, held} {
				if err := c.send("held"); err != nil {
					t.Fatalf("blackhole: write: %v", err)
				}
				// Absence can only be observed for a while: 300 ms.
				if got, err := c.recv(300 * time.Millisecond); !isTimeout(err) {
					t.Errorf("blackhole: read %q, %v; want nothing", got, err)
				}
			}
			waitConns(t, p, 2)
			if tt.cut {
				p.Cut()
			}
			set(t, p, Pass)
			for _, c := range []*conn{before, held} {
				got, err := c.recv(5 * time.Second)
				if flowed := err == nil && got == "held\n"; flowed != tt.wantFlow {
					t.Errorf("back in pass: read %q, %v; want flowing %v", got, err, tt.wantFlow)
				}
			}
		})
	}
}

// TestBlackholeThenRefuse: connections held in the blackhole end when it turns to
// refusing, and do not come back with Pass.
func TestBlackholeThenRefuse(t *testing.T) {
	p := newProxy(t)
	set(t, p, Blackhole)
	held := dial(t, p)
	if err := held.send("x"); err != nil {
		t.Fatal(err)
	}
	waitConns(t, p, 1)
	set(t, p, Refuse)
	set(t, p, Pass)
	if got, err := held.recv(5 * time.Second); err == nil || isTimeout(err) {
		t.Errorf("held then refused: read %q, %v; want its end", got, err)
	}
}

// TestClose: Close ends every connection, even held ones, and returns; the proxy
// then refuses to change mode.
func TestClose(t *testing.T) {
	for _, m := range []Mode{Pass, Blackhole, Refuse} {
		t.Run(m.String(), func(t *testing.T) {
			p := newProxy(t)
			var c *conn
			if m != Refuse {
				set(t, p, m)
				c = dial(t, p)
				if m == Blackhole {
					c.send("x") // held
				}
				waitConns(t, p, 1)
			} else {
				set(t, p, m)
			}
			closed := make(chan struct{})
			go func() { p.Close(); close(closed) }()
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not return")
			}
			if c != nil {
				if _, err := c.recv(5 * time.Second); err == nil || isTimeout(err) {
					t.Errorf("after Close: read %v, want the connection's end", err)
				}
			}
			if err := p.Set(Pass); err == nil {
				t.Error("Set after Close: no error")
			}
		})
	}
}
