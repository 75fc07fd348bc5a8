package memcached_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/testcert"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/memcached"
)

// writeCert writes a new self-signed certificate for 127.0.0.1 and its key
// into dir, and returns a pool that trusts it.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	c := testcert.New(t)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, c.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, c.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, c.Roots
}

// startTLSServer starts the memcached binary of LOCK_TEST_MEMCACHED_BIN
// with TLS on a free loopback port, and returns its address.
func startTLSServer(t *testing.T) (addr string, roots *x509.CertPool) {
	t.Helper()
	if os.Getenv("LOCK_TEST_MEMCACHED_BIN") == "" {
		t.Skip("LOCK_TEST_MEMCACHED_BIN not set")
	}
	certFile, keyFile, roots := writeCert(t, t.TempDir())
	addr, _ = startMemcached(t, "-Z", "-o", "ssl_chain_cert="+certFile+",ssl_key="+keyFile)
	return addr, roots
}

// TestTLS runs the conformance suite over TLS against a real memcached
// started with --enable-ssl, and checks that the server's certificate is
// verified.
func TestTLS(t *testing.T) {
	addr, roots := startTLSServer(t)
	ctx := t.Context()

	// tls=true verifies against the system roots, which do not hold the
	// test's certificate.
	if l, err := lock.Open(ctx, "memcached://"+addr+"?tls=true&retries=0"); err == nil {
		l.Close()
		t.Fatal("Open(tls=true) with an untrusted certificate succeeded; want a verification error")
	} else if !errors.As(err, new(*tls.CertificateVerificationError)) {
		t.Logf("Open(tls=true) with an untrusted certificate: %v", err)
	}

	opts := &memcached.Options{TLS: &tls.Config{RootCAs: roots}, Options: lock.Options{RetryInterval: testRetry}}
	// Without TLS, the server does not answer the text protocol.
	if l, err := memcached.Dial(ctx, []string{addr}, &memcached.Options{Timeout: 300 * time.Millisecond}); err == nil {
		l.Close()
		t.Fatal("Dial without TLS to a TLS-only server succeeded; want an error")
	} else if !strings.Contains(err.Error(), "(if the server speaks TLS only, add tls=true)") {
		t.Errorf("Dial without TLS to a TLS-only server = %v; want the hint to add tls=true", err)
	}
	// With TLS, a plain-text memcached (which answers the hello with a
	// line of text): a hint the other way.
	if os.Getenv("LOCK_TEST_MEMCACHED_URL") != "" {
		plain := realServers(t)[0]
		if l, err := lock.Open(ctx, "memcached://"+plain+"?tls=true&timeout=300ms&retries=0"); err == nil {
			l.Close()
			t.Fatal("Open(tls=true) to a plain-text server succeeded; want an error")
		} else if !strings.Contains(err.Error(), "(if the server speaks plain text, leave out tls=true)") {
			t.Errorf("Open(tls=true) to a plain-text server = %v; want the hint to leave out tls=true", err)
		}
	}
	locktest.Run(t, locktest.Harness{
		New: func(t *testing.T) lock.Lock {
			l, err := memcached.Dial(ctx, []string{addr}, opts)
			if err != nil {
				t.Fatalf("Dial over TLS: %v", err)
			}
			return l
		},
		Granularity:   3 * time.Second,
		TTL:           time.Second,
		RetryInterval: testRetry,
	})
}
