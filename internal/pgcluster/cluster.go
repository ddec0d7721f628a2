package pgcluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// PGBin is where Debian's PostgreSQL 15 keeps initdb and pg_ctl.
const PGBin = "/usr/lib/postgresql/15/bin"

// ErrNoCluster means this machine cannot make a cluster of the test's own (no
// initdb, or running as root with no postgres user to run it as).
var ErrNoCluster = errors.New("no PostgreSQL cluster of our own")

// Cluster is a PostgreSQL cluster made with initdb, on a port of its own, so that
// its maker can restart it (fast or immediate) and choose its settings without
// touching the machine's server. As root it runs as the postgres user, as PostgreSQL
// refuses to run as root.
type Cluster struct {
	Dir  string // the data directory (the socket and the log are there too)
	Port int
	// Addrs are the addresses it listens on: 127.0.0.1 and those given.
	Addrs []string
	asPG  bool
}

// Start makes and starts a cluster in a new directory under parent, listening
// on 127.0.0.1 and extra (addresses the caller created), with settings added to
// postgresql.conf and lines added to pg_hba.conf (trust for loopback is there).
func Start(parent string, extra []string, settings map[string]string, hba []string) (*Cluster, error) {
	if _, err := os.Stat(filepath.Join(PGBin, "initdb")); err != nil {
		return nil, fmt.Errorf("%w: %s/initdb: %v", ErrNoCluster, PGBin, err)
	}
	c := &Cluster{Addrs: append([]string{"127.0.0.1"}, extra...)}
	var uid, gid int
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("%w: running as root and %v", ErrNoCluster, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		c.asPG = true
	}
	dir, err := os.MkdirTemp(parent, "pg-")
	if err != nil {
		return nil, err
	}
	c.Dir = dir
	if c.asPG {
		// The postgres user must reach the directory: open the way down to it.
		for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
			if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
				os.Chmod(d, st.Mode().Perm()|0o011)
			}
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if c.Port, err = FreePort(); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if out, err := c.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	conf := map[string]string{
		"port":                    strconv.Itoa(c.Port),
		"listen_addresses":        "'" + strings.Join(c.Addrs, ",") + "'",
		"unix_socket_directories": "'" + dir + "'",
		"fsync":                   "off", // a test cluster: speed over durability across power cuts (settings can turn it on)
		"logging_collector":       "off",
	}
	for k, v := range settings {
		conf[k] = v
	}
	var b strings.Builder
	for k, v := range conf {
		fmt.Fprintf(&b, "%s = %s\n", k, v)
	}
	if err := appendFile(filepath.Join(data, "postgresql.conf"), b.String()); err != nil {
		return nil, err
	}
	if len(hba) > 0 {
		if err := appendFile(filepath.Join(data, "pg_hba.conf"), strings.Join(hba, "\n")+"\n"); err != nil {
			return nil, err
		}
	}
	if out, err := c.ctl("start"); err != nil {
		return nil, fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, c.LogTail())
	}
	return c, nil
}

// URL is the URL of database db on host (an address it listens on).
func (c *Cluster) URL(host, db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", net.JoinHostPort(host, strconv.Itoa(c.Port)), db)
}

// Restart restarts the cluster with pg_ctl restart -m mode ("fast" or "immediate")
// and waits until it accepts connections again.
func (c *Cluster) Restart(mode string) error {
	if out, err := c.ctl("restart", "-m", mode); err != nil {
		return fmt.Errorf("pg_ctl restart -m %s: %v\n%s\n%s", mode, err, out, c.LogTail())
	}
	return nil
}

// Open starts again a cluster that Start made in dir and Shutdown stopped (its port
// and settings are those it was made with), or finds it running.
func Open(dir string) (*Cluster, error) {
	if _, err := os.Stat(filepath.Join(PGBin, "pg_ctl")); err != nil {
		return nil, fmt.Errorf("%w: %s/pg_ctl: %v", ErrNoCluster, PGBin, err)
	}
	conf, err := os.ReadFile(filepath.Join(dir, "data", "postgresql.conf"))
	if err != nil {
		return nil, fmt.Errorf("open cluster: %w", err)
	}
	c := &Cluster{Dir: dir, asPG: os.Geteuid() == 0}
	// The last setting of a name is the one PostgreSQL takes: Start appends its own.
	for _, line := range strings.Split(string(conf), "\n") {
		k, v, ok := strings.Cut(line, "=")
		switch strings.TrimSpace(k) {
		case "port":
			if c.Port, err = strconv.Atoi(strings.TrimSpace(v)); !ok || err != nil {
				return nil, fmt.Errorf("open cluster: %s: bad port line %q", dir, line)
			}
		case "listen_addresses":
			c.Addrs = strings.Split(strings.Trim(strings.TrimSpace(v), "'"), ",")
		}
	}
	if c.Port == 0 {
		return nil, fmt.Errorf("open cluster: %s: no port in its postgresql.conf", dir)
	}
	if _, err := c.ctl("status"); err == nil {
		return c, nil
	}
	if out, err := c.ctl("start"); err != nil {
		return nil, fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, c.LogTail())
	}
	return c, nil
}

// Shutdown stops the cluster (fast: a clean shutdown) and keeps its directory, for
// Open to start again.
func (c *Cluster) Shutdown() error {
	if out, err := c.ctl("stop", "-m", "fast"); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// Stop stops the cluster (immediate: it is thrown away) and removes its directory.
func (c *Cluster) Stop() {
	c.ctl("stop", "-m", "immediate")
	os.RemoveAll(c.Dir)
}

// LogTail is the end of the server's log.
func (c *Cluster) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "log"))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func (c *Cluster) ctl(args ...string) ([]byte, error) {
	args = append([]string{"-D", filepath.Join(c.Dir, "data"), "-l", filepath.Join(c.Dir, "log"), "-w", "-t", "60"}, args...)
	return c.run("pg_ctl", args...)
}

func (c *Cluster) run(prog string, args ...string) ([]byte, error) {
	path := filepath.Join(PGBin, prog)
	var cmd *exec.Cmd
	if c.asPG {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.Dir
	return cmd.CombinedOutput()
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// FreePort is a TCP port free on loopback now (the chaos suite and pgtest take
// theirs here too).
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
