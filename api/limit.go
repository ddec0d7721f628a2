package api

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Defaults of the limiter of failed tokens (Options.AuthFailures, AuthWindow).
const (
	DefaultAuthFailures = 10
	DefaultAuthWindow   = time.Minute
)

// maxTracked bounds the addresses the limiter remembers: a caller rotating through
// addresses (IPv6 gives many) must not grow the map without end. Beyond it, new
// addresses share one entry, so that they are limited together rather than not
// at all.
const maxTracked = 1 << 16

// limiter refuses, for a window, the calls of an address that presented too many
// failed tokens: each failure costs the database a lookup, and 30,000 of them in
// 10 s were answered without slowing down. A refused call answers 429 before the
// body's token is looked up, so it costs the database nothing. It counts per
// address (an IPv6 address per /64, which one host usually holds whole), so that
// a valid token from another address is unaffected.
type limiter struct {
	failures int
	window   time.Duration
	now      func() time.Time
	log      logrus.FieldLogger

	mu    sync.Mutex
	addrs map[string]*tally
}

// tally is one address's failures in its current window, and the end of its block.
type tally struct {
	start        time.Time // the window's first failure
	failures     int
	blockedUntil time.Time
}

func newLimiter(failures int, window time.Duration, log logrus.FieldLogger) *limiter {
	return &limiter{failures: failures, window: window, now: time.Now, log: log, addrs: map[string]*tally{}}
}

// clientKey is the address a call is counted under: the peer's IP, an IPv6 one cut
// to its /64.
func clientKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// blocked reports how long the address key is still refused; 0 when it is not.
func (l *limiter) blocked(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.addrs[l.slot(key)]
	if t == nil {
		return 0
	}
	return max(0, t.blockedUntil.Sub(l.now()))
}

// failed counts a failed token of the address key. The failure that reaches the
// limit starts a block of one window, and logs the window's one line: the calls
// refused during it are not logged one by one.
func (l *limiter) failed(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	t := l.addrs[key]
	if t == nil {
		if len(l.addrs) >= maxTracked {
			l.prune(now)
		}
		if len(l.addrs) >= maxTracked {
			key = others
			t = l.addrs[key]
		}
		if t == nil {
			t = &tally{}
			l.addrs[key] = t
		}
	}
	if now.Sub(t.start) >= l.window && !now.Before(t.blockedUntil) {
		*t = tally{start: now} // a new window
	}
	t.failures++
	if t.failures >= l.failures && !now.Before(t.blockedUntil) {
		t.blockedUntil = now.Add(l.window)
		l.log.WithFields(logrus.Fields{
			"remote": key, "failures": t.failures, "window": l.window.String(),
		}).Warn("api: too many failed tokens from one address: its calls are refused (429) for the window")
	}
}

// slot is the key an address is counted under: its own, or the shared one when the
// map was full as it came.
func (l *limiter) slot(key string) string {
	if _, ok := l.addrs[key]; ok || len(l.addrs) < maxTracked {
		return key
	}
	return others
}

// others is the key of the addresses that came when the map was full.
const others = "(others)"

// prune forgets the addresses whose window and block are over.
func (l *limiter) prune(now time.Time) {
	for k, t := range l.addrs {
		if now.Sub(t.start) >= l.window && !now.Before(t.blockedUntil) {
			delete(l.addrs, k)
		}
	}
}

// retryAfter is the Retry-After header's value for a block with left to run: whole
// seconds, rounded up.
func retryAfter(left time.Duration) string {
	return strconv.Itoa(int(math.Ceil(left.Seconds())))
}

// tooMany is the answer to a call of a blocked address.
func tooMany(w http.ResponseWriter, left time.Duration) *failure {
	w.Header().Set("Retry-After", retryAfter(left))
	return &failure{status: http.StatusTooManyRequests, code: CodeTooManyFailures, quiet: true,
		desc: "too many failed tokens from this address: retry after " + retryAfter(left) + " s"}
}
