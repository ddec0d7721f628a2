package cli_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/cli"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/testutil"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files in dir,
// and returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "provisioner test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServeTLS: with --tls-cert and --tls-key, serve answers HTTPS only, and says
// so in its first line; on SIGTERM it exits 0.
func TestServeTLS(t *testing.T) {
	_, dsn := pgtest.New(t)
	vars := map[string]string{"DATABASE_URL": dsn, "LOG_FORMAT": "json"}
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &testutil.Buffer{}
	env := cli.Env{Stdout: io.Discard, Stderr: stderr, Getenv: func(k string) string { return vars[k] }}
	exited := make(chan int, 1)
	go func() {
		exited <- cli.Main(ctx, env, []string{"serve", "--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile})
	}()
	var addr string
	var withTLS bool
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var entry struct {
				Msg, Addr string
				TLS       bool
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "serving the Web API" {
				addr, withTLS = entry.Addr, entry.TLS
			}
		}
		select {
		case code := <-exited:
			t.Fatalf("serve exited %d:\n%s", code, stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if addr == "" || !withTLS {
		t.Fatalf("serve did not start with TLS (%q):\n%s", addr, stderr)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("healthz over HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("healthz over HTTPS: %d, TLS %v, X-Request-Id %q", resp.StatusCode, resp.TLS != nil, resp.Header.Get("X-Request-Id"))
	}
	// Plain HTTP to the same port is not served as HTTP.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP answered 200 on the TLS port")
		}
	}
	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("serve exited %d:\n%s", code, stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestServeTLSUsage: the TLS and limiter flags' mistakes exit 2 before serving.
func TestServeTLSUsage(t *testing.T) {
	_, dsn := pgtest.New(t)
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	vars := map[string]string{"DATABASE_URL": dsn}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", certFile}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-key", keyFile}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", filepath.Join(dir, "none.pem"), "--tls-key", keyFile}, "--tls-cert " + filepath.Join(dir, "none.pem")},
		{[]string{"--tls-cert", keyFile, "--tls-key", certFile}, "--tls-cert " + keyFile},
		{[]string{"--auth-failures", "0"}, "--auth-failures 0: must be at least 1"},
		{[]string{"--auth-window", "10ms"}, "--auth-window 10ms: must be at least 1s"},
	} {
		args := append([]string{"serve", "--listen", "127.0.0.1:0"}, tt.args...)
		if r := runCLI(t, vars, args...); r.code != cli.ExitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}
