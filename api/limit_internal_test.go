package api

import (
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// TestLimiterWindow drives the limiter on a clock of its own: failures count within
// a window from the first; the one that reaches the limit blocks the address for
// one window, with Retry-After counting down; then it starts afresh.
func TestLimiterWindow(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	log := logrus.New()
	log.SetOutput(io.Discard)
	l := newLimiter(3, time.Minute, log)
	l.now = func() time.Time { return now }
	const a, b = "192.0.2.1", "192.0.2.2"
	step := func(d time.Duration) { now = now.Add(d) }

	l.failed(a)
	step(30 * time.Second)
	l.failed(a)
	step(31 * time.Second) // the window of the first failure is over: counting starts again
	l.failed(a)
	l.failed(a)
	if left := l.blocked(a); left != 0 {
		t.Fatalf("blocked after 2 failures in a window: %s", left)
	}
	l.failed(a) // the third in this window
	if left := l.blocked(a); left != time.Minute || retryAfter(left) != "60" {
		t.Fatalf("blocked for %s, want a window", left)
	}
	if left := l.blocked(b); left != 0 {
		t.Errorf("another address blocked: %s", left)
	}
	step(59*time.Second + 500*time.Millisecond)
	if left := l.blocked(a); retryAfter(left) != "1" {
		t.Errorf("Retry-After %s with %s left, want 1", retryAfter(left), left)
	}
	step(500 * time.Millisecond)
	if left := l.blocked(a); left != 0 {
		t.Errorf("still blocked after the window: %s", left)
	}
	l.failed(a)
	l.failed(a)
	if left := l.blocked(a); left != 0 {
		t.Errorf("blocked by 2 failures after the block: %s", left)
	}
	l.failed(a)
	if left := l.blocked(a); left != time.Minute {
		t.Errorf("not blocked again by 3: %s", left)
	}
}

// TestClientKey: an IPv4 address is itself; an IPv6 one is counted with its /64.
func TestClientKey(t *testing.T) {
	for remote, want := range map[string]string{
		"127.0.0.1:5000":             "127.0.0.1",
		"[2001:db8:1:2:aaaa::1]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb::9]:443": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:80":      "192.0.2.7",
		"pipe":                       "pipe",
	} {
		if got := clientKey(remote); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", remote, got, want)
		}
	}
}

// TestLimiterBounded: past maxTracked addresses, new ones share one entry (and are
// limited together) instead of growing the map; addresses whose windows are over
// are forgotten first.
func TestLimiterBounded(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	log := logrus.New()
	log.SetOutput(io.Discard)
	l := newLimiter(2, time.Minute, log)
	l.now = func() time.Time { return now }
	ip := func(i int) string { return "10." + itoa(i>>16) + "." + itoa(i>>8&255) + "." + itoa(i&255) }
	for i := range maxTracked {
		l.failed(ip(i))
	}
	l.failed(ip(maxTracked))
	l.failed(ip(maxTracked + 1))
	if len(l.addrs) != maxTracked+1 {
		t.Fatalf("%d addresses tracked, want %d and the shared entry", len(l.addrs), maxTracked)
	}
	if l.blocked(ip(maxTracked+2)) == 0 {
		t.Errorf("the shared entry is not blocked after two failures")
	}
	now = now.Add(2 * time.Minute)
	l.failed(ip(maxTracked + 3))
	if len(l.addrs) != 1 {
		t.Errorf("%d addresses tracked after the windows ended, want 1", len(l.addrs))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
