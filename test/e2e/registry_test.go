//go:build e2e

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRegistryTLSAndPrefixedMirror: mirrors reached as a node's registries
// are, each serving a pull (rktlet's resolve and rkt's fetch alike):
//   - over TLS with a CA made here, asking for a client certificate;
//   - over TLS with skip-verify and no CA;
//   - with a path in front of the repository (a proxy cache's project).
//
// A mirror whose certificate the configured CA did not sign fails the pull
// with an error naming the endpoint.
func TestRegistryTLSAndPrefixedMirror(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "rktlet-e2e-ca")
	otherCA := newTestCA(t, "rktlet-e2e-other-ca")
	serverCert := ca.issue(t, "registry", false)
	client := ca.issue(t, "rktlet", true)
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caFile, otherCAFile := write("ca.pem", ca.certPEM), write("other-ca.pem", otherCA.certPEM)
	clientCert, clientKey := write("client.pem", client.certPEM), write("client-key.pem", client.keyPEM)

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	withClientCerts := startMirror(t, "", &tls.Config{Certificates: []tls.Certificate{serverCert.pair(t)}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert})
	plainTLS := startMirror(t, "", &tls.Config{Certificates: []tls.Certificate{serverCert.pair(t)}})
	prefixed := startMirror(t, "proxy-cache/k8s", nil)
	_, tlsPort, _ := net.SplitHostPort(withClientCerts.addr)

	inst := startInstance(t, "--registry-mirrors-only",
		"--registry-mirror=gcr.io=https://"+withClientCerts.addr,
		"--registry-host="+withClientCerts.addr+"=ca="+caFile+",client-cert="+clientCert+",client-key="+clientKey,
		"--registry-mirror=ghcr.io=https://"+plainTLS.addr,
		"--registry-host="+plainTLS.addr+"=skip-verify=true",
		"--registry-mirror=registry.k8s.io=http://"+prefixed.addr+"/proxy-cache/k8s",
		// The same server under another name, configured with a CA
		// that did not sign its certificate.
		"--registry-mirror=quay.io=https://localhost:"+tlsPort,
		"--registry-host=localhost:"+tlsPort+"=ca="+otherCAFile+",client-cert="+clientCert+",client-key="+clientKey,
	)
	// Three images of their own, so that each pull fetches (an image
	// already stored would only be tagged).
	for _, tc := range []struct{ name, ref string }{
		{"TLS with a CA and a client certificate", "gcr.io/e2e-test-images/httpd:2.4.39-4"},
		{"TLS with skip-verify", "ghcr.io/e2e-test-images/nonewprivs:1.3"},
		{"a path prefix", "registry.k8s.io/e2e-test-images/nginx:1.14-2"},
	} {
		if _, err := crictl(t, inst.socket, "pull", tc.ref); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if img, err := inspecti(t, inst.socket, tc.ref); err != nil || len(img.Status.RepoTags) != 1 || img.Status.RepoTags[0] != tc.ref {
			t.Errorf("%s: image status %+v %v", tc.name, img.Status, err)
		}
	}
	// Both rktlet (go-containerregistry) and rkt's fetcher came through
	// each mirror, the prefixed one with the prefix.
	for name, m := range map[string]*mirror{"client-certificate": withClientCerts, "skip-verify": plainTLS, "prefixed": prefixed} {
		resolves, fetches := m.counts()
		if resolves == 0 || fetches == 0 {
			t.Errorf("the %s mirror saw %d requests from rktlet and %d from rkt's fetch; want both", name, resolves, fetches)
		}
	}

	_, err := crictl(t, inst.socket, "pull", "quay.io/e2e-test-images/busybox:1.29-2")
	if err == nil {
		t.Fatal("a pull from a mirror whose certificate the configured CA did not sign succeeded")
	}
	if endpoint := "https://localhost:" + tlsPort; !strings.Contains(err.Error(), endpoint) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("the wrong CA's failure does not name %s and the certificate: %v", endpoint, err)
	}
}

// mirror is a registry endpoint in front of the test bed's registry.
type mirror struct {
	addr string

	mu                sync.Mutex
	resolves, fetches int
}

func (m *mirror) counts() (int, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.resolves, m.fetches
}

// startMirror serves the bed's registry on a loopback port, over TLS when
// cfg is set. With a prefix, repositories are found only below it, as in a
// proxy cache's project (/v2/<prefix>/<repository>/...).
func startMirror(t *testing.T, prefix string, cfg *tls.Config) *mirror {
	t.Helper()
	target, _ := url.Parse("http://" + env(t, "TESTBED_REGISTRY"))
	proxy := httputil.NewSingleHostReverseProxy(target)
	m := &mirror{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if prefix != "" && r.URL.Path != "/v2/" {
			rest, ok := strings.CutPrefix(r.URL.Path, "/v2/"+prefix+"/")
			if !ok {
				http.Error(w, `{"errors":[{"code":"NAME_UNKNOWN"}]}`, http.StatusNotFound)
				return
			}
			r.URL.Path = "/v2/" + rest
		}
		if r.URL.Path != "/v2/" {
			m.mu.Lock()
			if strings.Contains(r.UserAgent(), "go-containerregistry") {
				m.resolves++
			} else {
				m.fetches++
			}
			m.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	})}
	if cfg != nil {
		srv.TLSConfig = cfg
		go srv.ServeTLS(l, "", "")
	} else {
		go srv.Serve(l)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return m
}

// testCert is a certificate with its key, as parsed values and PEM.
type testCert struct {
	cert            *x509.Certificate
	key             *ecdsa.PrivateKey
	certPEM, keyPEM []byte
}

func (c testCert) pair(t *testing.T) tls.Certificate {
	t.Helper()
	pair, err := tls.X509KeyPair(c.certPEM, c.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func newTestCA(t *testing.T, name string) testCert {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	return makeCert(t, tmpl, nil)
}

// issue makes a certificate signed by c: for 127.0.0.1 and localhost, or
// for a client.
func (c testCert) issue(t *testing.T, name string, client bool) testCert {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	if client {
		tmpl.ExtKeyUsage, tmpl.IPAddresses, tmpl.DNSNames = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil
	}
	return makeCert(t, tmpl, &c)
}

func makeCert(t *testing.T, tmpl *x509.Certificate, parent *testCert) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{
		cert: cert, key: key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
}
