package chaos_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgcluster"
)

// host is a network namespace joined to the root namespace by a veth pair on a /30
// of its own: the root side (where PostgreSQL and the gateway listen) is .1, the
// host's side .2.
type host struct {
	ns, rootIf, nsIf string
	rootAddr, addr   string
}

// ipCmd runs ip with args and fails the test, naming the command, when it fails.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// makeHosts makes n namespaces, or skips the test saying why they cannot be made.
func makeHosts(t *testing.T, n int) []host {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: network namespaces need root (ip netns add)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: no ip command (iproute2) to make network namespaces")
	}
	b := make([]byte, 2)
	rand.Read(b)
	tag := hex.EncodeToString(b)
	// 10.231.S.0/30 subnets, S from the tag, so that two runs at once do not collide.
	base := (int(b[0])%60)*4 + 4
	var hosts []host
	for i := range n {
		h := host{
			ns:     fmt.Sprintf("pvchaos-%s-%d", tag, i+1),
			rootIf: fmt.Sprintf("pv%s%dr", tag, i+1),
			nsIf:   fmt.Sprintf("pv%s%dn", tag, i+1),
		}
		h.rootAddr, h.addr = fmt.Sprintf("10.231.%d.1", base+i), fmt.Sprintf("10.231.%d.2", base+i)
		if err := ipCmd("netns", "add", h.ns); err != nil {
			if i == 0 {
				t.Skipf("skipped: cannot make a network namespace here: %v", err)
			}
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ipCmd("netns", "del", h.ns) // takes its end of the veth, and so the pair
			ipCmd("link", "del", h.rootIf)
		})
		for _, args := range [][]string{
			{"link", "add", h.rootIf, "type", "veth", "peer", "name", h.nsIf},
			{"link", "set", h.nsIf, "netns", h.ns},
			{"addr", "add", h.rootAddr + "/30", "dev", h.rootIf},
			{"link", "set", h.rootIf, "up"},
			{"netns", "exec", h.ns, "ip", "addr", "add", h.addr + "/30", "dev", h.nsIf},
			{"netns", "exec", h.ns, "ip", "link", "set", h.nsIf, "up"},
			{"netns", "exec", h.ns, "ip", "link", "set", "lo", "up"},
		} {
			if err := ipCmd(args...); err != nil {
				t.Fatal(err)
			}
		}
		hosts = append(hosts, h)
	}
	return hosts
}

// withHost is dsn with its host replaced.
func withHost(t *testing.T, dsn, addr string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(u.Host)
	u.Host = net.JoinHostPort(addr, port)
	return u.String()
}

// TestHosts is issue 16's part 2: three hosts (network namespaces), one PostgreSQL
// and one gateway, each host running the scheduler with the processing and import
// jobs over one inbox on a shared folder. Mid-run one host's link is cut: its leases
// expire and the others take its requests over; then the link comes back (its late
// write-backs, if any, are refused by the lease guard). Same checks as every
// scenario, and every file imported once. Under make chaos only.
func TestHosts(t *testing.T) {
	if !*full {
		t.Skip("skipped: the hosts scenario runs under make chaos (-chaos)")
	}
	hosts := makeHosts(t, 3)
	seed := seedOf(t)
	var addrs []string
	for _, h := range hosts {
		addrs = append(addrs, h.rootAddr)
	}
	// PostgreSQL notices a host gone silent by TCP keepalives (a cut link sends no
	// FIN): then its sessions end, and with them the row locks of a transaction
	// they had open and their connection slots. (The scheduler's job locks are
	// rows with a lease, which runs out on its own: jobs.Ledger.)
	c, err := pgcluster.Start(os.TempDir(), addrs, map[string]string{
		"max_connections": "100", "tcp_keepalives_idle": "2", "tcp_keepalives_interval": "1", "tcp_keepalives_count": "3",
	}, []string{"host all all 10.231.0.0/16 trust"})
	if errors.Is(err, pgcluster.ErrNoCluster) {
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	dsn := clusterDB(t, c, "127.0.0.1")
	db := openDB(t, dsn)

	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	staged := filepath.Join(dir, "staged")
	shas, known, refDir := importFiles(t, dir, staged, 6, 3000, 0, seed)
	w := genWorkload(seed, 600, 8, 10)
	known.Smartcards = append(known.Smartcards, w.known.Smartcards...)
	known.STBs = append(known.STBs, w.known.STBs...)
	known.Products = append(known.Products, w.known.Products...)
	gw := newGateway(t, seed, gatewayFaults(), known)
	local := newProgram(t, dsn, gw.srv.URL)
	if ch := local.start("reference", "load", refDir); ch.wait(2*time.Minute) != 0 {
		t.Fatalf("reference load:\n%s", ch.output())
	}
	insert(t, db, w)
	if err := os.MkdirAll(inbox, 0o755); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(shas))
	for n := range shas {
		names = append(names, n)
	}
	slices.Sort(names)
	drop := func(n string) {
		if err := os.Rename(filepath.Join(staged, n), filepath.Join(inbox, n)); err != nil {
			t.Fatal(err)
		}
	}

	// The schedulers, one per host, each reaching PostgreSQL and the gateway over its
	// own link.
	scheds := make([]*child, len(hosts))
	programs := make([]*program, len(hosts))
	for i, h := range hosts {
		// The gateway listens on each host's root-side address, a port each.
		ln, err := net.Listen("tcp", h.rootAddr+":0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: gw}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		gwURL := "http://" + ln.Addr().String()
		programs[i] = newProgram(t, withHost(t, dsn, h.rootAddr), gwURL)
		programs[i].wrap = []string{"ip", "netns", "exec", h.ns}
		conf := schedConf{dsn: withHost(t, dsn, h.rootAddr), gateway: gwURL, instance: fmt.Sprintf("host%d", i+1),
			process: "*/2 * * * * *", imports: "*/3 * * * * *", inbox: inbox}.write(t, dir)
		scheds[i] = programs[i].start("scheduler", "--config", conf)
	}
	drop(names[0])
	drop(names[1])
	waitFor(t, time.Minute, "every host to have run a job", func() bool {
		return count(t, db, `SELECT count(DISTINCT instance) FROM job_runs WHERE state IN ('SUCCEEDED', 'REJECTED')`) == len(hosts)
	})

	// Cut the link of the first host whose processing run holds 5 requests or more
	// (a run's pid is its scheduler's: the jobs run in the scheduler's process).
	cutIdx := -1
	var held []int64
	waitFor(t, 2*time.Minute, "a host's run to hold 5 requests or more", func() bool {
		for i, s := range scheds {
			held = nil
			db.Select(&held, `SELECT r.number FROM provisioning_requests r JOIN processes p ON p.id = r.claimed_by
			    WHERE p.pid = $1 AND r.life_cycle_state = 'PENDING' AND r.lease_expires_at > now()`, s.cmd.Process.Pid)
			if len(held) >= 5 {
				cutIdx = i
				return true
			}
		}
		return false
	})
	cut := hosts[cutIdx]
	cutName := fmt.Sprintf("host%d", cutIdx+1)
	if err := ipCmd("link", "set", cut.rootIf, "down"); err != nil {
		t.Fatal(err)
	}
	cutAt := time.Now()
	drop(names[2])
	drop(names[3])
	// The others take over what it held: settled while its link is down. Their
	// runs of the processing job wait for the cut host's lock on the job to run
	// out (a lease of a minute): the link stays down at least 20 s, and until then.
	waitFor(t, 2*time.Minute, "the other hosts to settle what the cut host held", func() bool {
		return count(t, db, `SELECT count(*) FROM provisioning_requests WHERE number = ANY($1) AND life_cycle_state = 'PENDING'`, int64s(held)) == 0
	})
	takenOver := time.Since(cutAt)
	for time.Since(cutAt) < 20*time.Second {
		time.Sleep(200 * time.Millisecond)
	}
	if err := ipCmd("link", "set", cut.rootIf, "up"); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	down := restored.Sub(cutAt)
	drop(names[4])
	drop(names[5])
	waitFor(t, 5*time.Minute, "the inbox to empty and every request to settle", func() bool {
		return inboxLeft(inbox) == 0 && pendingDue(t, db) == 0
	})
	recovered := time.Since(restored)
	// The cut host works again after its link came back.
	waitFor(t, 2*time.Minute, "the cut host to run a job after its link came back", func() bool {
		return count(t, db, `SELECT count(*) FROM job_runs WHERE instance = $1 AND state IN ('SUCCEEDED', 'REJECTED') AND started_at > $2`, cutName, restored) > 0
	})
	for i, s := range scheds {
		if s.wait(0) != running {
			t.Errorf("host%d's scheduler exited:\n%s", i+1, s.output())
		}
		s.signal(syscall.SIGTERM)
	}
	for i, s := range scheds {
		if code := s.wait(time.Minute); code != 0 {
			t.Errorf("host%d's scheduler: exit %d after SIGTERM\n%s", i+1, code, s.output())
		}
	}
	created := checkFiles(t, db, shas)
	o := check(t, db, gw.sim, created+len(w.reqs))
	var perHost []string
	for i := range hosts {
		perHost = append(perHost, fmt.Sprintf("host%d %d", i+1,
			count(t, db, `SELECT count(*) FROM job_runs WHERE instance = $1 AND state IN ('SUCCEEDED', 'REJECTED')`, fmt.Sprintf("host%d", i+1))))
	}
	record(t, row{scenario: "hosts: 3 netns, 1 link cut 20s", runs: count(t, db, `SELECT count(*) FROM job_runs`), faults: 1, requests: o.requests, lost: o.lost,
		twice: o.twice, outOfOrder: o.outOfOrder, recover: recovered,
		note: fmt.Sprintf("%s's link cut while it held %d requests; the others settled them %v after; link down %v; %d files imported once; good job runs: %s; runs: job runs of the three schedulers",
			cutName, len(held), takenOver.Round(100*time.Millisecond), down.Round(100*time.Millisecond), len(shas), strings.Join(perHost, ", "))})
}

func int64s(v []int64) any { return pqArray(v) }
