package chaos

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// TestProxy: Pass forwards; Refuse refuses new connections and resets open ones;
// Blackhole accepts and forwards nothing, and what it held flows once back in Pass.
func TestProxy(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	p, err := NewProxy(echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	roundTrip := func(c net.Conn, msg string, within time.Duration) (string, error) {
		c.SetDeadline(time.Now().Add(within))
		if _, err := c.Write([]byte(msg + "\n")); err != nil {
			return "", err
		}
		return bufio.NewReader(c).ReadString('\n')
	}
	dial := func() net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err != nil {
			t.Fatalf("dial in %v: %v", p.Mode(), err)
		}
		return c
	}

	open := dial()
	if got, err := roundTrip(open, "a", 5*time.Second); err != nil || got != "a\n" {
		t.Fatalf("pass: %q, %v", got, err)
	}
	if err := p.Set(Refuse); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("refuse: a new connection was accepted")
	}
	if _, err := roundTrip(open, "b", 5*time.Second); err == nil {
		t.Error("refuse: the open connection still works")
	}
	open.Close()

	if err := p.Set(Blackhole); err != nil {
		t.Fatal(err)
	}
	held := dial() // accepted...
	if got, err := roundTrip(held, "c", 300*time.Millisecond); err == nil {
		t.Errorf("blackhole: answered %q", got)
	}
	if err := p.Set(Pass); err != nil {
		t.Fatal(err)
	}
	// ... and what it sent in the blackhole arrives once back in Pass.
	held.SetDeadline(time.Now().Add(5 * time.Second))
	if got, err := bufio.NewReader(held).ReadString('\n'); err != nil || got != "c\n" {
		t.Errorf("after the blackhole: %q, %v", got, err)
	}
	held.Close()
}
