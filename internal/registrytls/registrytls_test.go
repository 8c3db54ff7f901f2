package registrytls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert := write("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	certKey := write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	notPEM := write("not.pem", []byte("hello"))

	cfg, err := Files{CA: cert, ClientCert: cert, ClientKey: certKey, SkipVerify: true}.Config()
	if err != nil || cfg.RootCAs == nil || len(cfg.Certificates) != 1 || !cfg.InsecureSkipVerify {
		t.Fatalf("a CA and a client pair: %+v %v", cfg, err)
	}
	if cfg, err := (Files{}).Config(); err != nil || cfg.RootCAs != nil || cfg.InsecureSkipVerify {
		t.Fatalf("no settings: %+v %v, want the system's roots", cfg, err)
	}
	for _, tc := range []struct {
		name  string
		files Files
		want  string
	}{
		{"missing CA", Files{CA: filepath.Join(dir, "missing.pem")}, "ca:"},
		{"CA not PEM", Files{CA: notPEM}, "no PEM certificate"},
		{"certificate without key", Files{ClientCert: cert}, "both or neither"},
		{"key that is no key", Files{ClientCert: cert, ClientKey: cert}, "client-cert and client-key"},
	} {
		if _, err := tc.files.Config(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}
