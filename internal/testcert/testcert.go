// Package testcert makes a self-signed certificate for 127.0.0.1, for tests
// of TLS servers and clients.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// Cert is a certificate for 127.0.0.1 that signs itself, valid for an hour.
type Cert struct {
	TLS     tls.Certificate // for a tls.Config's Certificates
	Roots   *x509.CertPool  // trusts the certificate
	CertPEM []byte          // the certificate, PEM-encoded
	KeyPEM  []byte          // its private key, PEM-encoded
}

// New returns a new Cert for 127.0.0.1, failing tb on an error.
func New(tb testing.TB) *Cert {
	tb.Helper()
	return newCert(tb, []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
}

// ForName returns a new Cert for the host name only (no IP address), so
// that a client verifying it must use the name.
func ForName(tb testing.TB, name string) *Cert {
	tb.Helper()
	return newCert(tb, nil, []string{name})
}

func newCert(tb testing.TB, ips []net.IP, names []string) *Cert {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "lock test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           ips,
		DNSNames:              names,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	c := &Cert{
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		Roots:   x509.NewCertPool(),
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	c.Roots.AddCert(leaf)
	return c
}
