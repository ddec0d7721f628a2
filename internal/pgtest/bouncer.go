package pgtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/provisioner/provisioner/internal/pgcluster"
)

// BouncerIgnoredParams are the start-up parameters the provisioner sends (store.Open)
// that PgBouncer 1.18 cannot pass on: it must be told to ignore them
// (ignore_startup_parameters), and they are then set on the role or the database
// instead (docs/high-availability.md).
const BouncerIgnoredParams = "extra_float_digits,statement_timeout,jit"

// Bouncer starts a real PgBouncer in transaction pooling mode (pool_mode =
// transaction) on a free loopback port, in front of the server of dsn, as a child
// process stopped when t ends, and returns dsn through it. poolSize is PgBouncer's
// default_pool_size: the server connections per database and user that all clients
// share; a small one makes clients share them, as a busy pooler does. The test is skipped, saying
// so, when the pgbouncer binary is missing (scripts/ensure-pgbouncer.sh installs it).
func Bouncer(t testing.TB, dsn string, poolSize int) string {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/pgbouncer"); err != nil {
			t.Skip("pgtest: no pgbouncer binary: run scripts/ensure-pgbouncer.sh (Debian's pgbouncer package)")
		}
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: bouncer: %v", err)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, port = u.Host, "5432"
	}
	name := u.User.Username()
	listen := freePort(t)

	dir := t.TempDir()
	// PgBouncer refuses to run as root: as root it is started as the server's
	// user (-u), which must read its files.
	var asUser []string
	if os.Geteuid() == 0 {
		asUser = []string{"-u", "postgres"}
		if _, err := user.Lookup("postgres"); err != nil {
			t.Skip("pgtest: running as root and no postgres user to run pgbouncer as")
		}
		os.Chmod(dir, 0o755)
	}
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
max_client_conn = 500
default_pool_size = %d
server_reset_query =
ignore_startup_parameters = %s
`, host, port, listen, filepath.Join(dir, "userlist.txt"), poolSize, BouncerIgnoredParams)
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatalf("pgtest: bouncer: %v", err)
		}
	}
	write("userlist.txt", fmt.Sprintf("%q \"\"\n", name))
	write("pgbouncer.ini", ini)

	out, err := os.Create(filepath.Join(dir, "pgbouncer.log"))
	if err != nil {
		t.Fatalf("pgtest: bouncer: %v", err)
	}
	cmd := exec.Command(bin, append(asUser, filepath.Join(dir, "pgbouncer.ini"))...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("pgtest: start pgbouncer: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); out.Close() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(listen))
	through := u.String()

	// Ready when it answers a query through to the server.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := ping(through)
		if err == nil {
			return through
		}
		select {
		case werr := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			t.Fatalf("pgtest: pgbouncer exited (%v):\n%s", werr, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			t.Fatalf("pgtest: pgbouncer not answering after 30s: %v\n%s", err, log)
		}
	}
}

func ping(dsn string) error {
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := c.Connect(ctx)
	if err != nil {
		return err
	}
	return conn.Close()
}

// freePort is a loopback TCP port free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := pgcluster.FreePort()
	if err != nil {
		t.Fatalf("pgtest: free port: %v", err)
	}
	return port
}
