package pgtest

import (
	"net/url"
	"testing"

	"github.com/provisioner/provisioner/internal/tcpproxy"
)

// NewProxy puts a TCP proxy (internal/tcpproxy) on a loopback port in front of the
// server of dsn, and returns it with dsn through it; it closes when t ends. The test
// cuts, refuses or blackholes the connections through it: PostgreSQL going away and
// coming back, without touching the server other tests share.
func NewProxy(t testing.TB, dsn string) (*tcpproxy.Proxy, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: proxy: %v", err)
	}
	p, err := tcpproxy.New(u.Host)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(p.Close)
	u.Host = p.Addr()
	return p, u.String()
}
