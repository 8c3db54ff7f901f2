// Package registrytls builds the TLS client configuration rktlet uses for a
// registry or mirror from an operator's PEM files.
package registrytls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Files are one host's TLS settings. Their JSON form is what rkt's fetcher
// reads from RKT_REGISTRY_TLS (rkt patch 0017).
type Files struct {
	CA         string `json:"ca,omitempty"`          // PEM certificates trusted besides the system's roots
	ClientCert string `json:"client_cert,omitempty"` // PEM certificate presented to the host
	ClientKey  string `json:"client_key,omitempty"`  // its PEM key
	SkipVerify bool   `json:"skip_verify,omitempty"` // accept any certificate
}

// Config reads the files into a client configuration: the system's roots
// plus the CA, and the client certificate.
func (f Files) Config() (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: f.SkipVerify} //nolint:gosec // the operator's choice, for this host alone
	if f.CA != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca: %s holds no PEM certificate", f.CA)
		}
		cfg.RootCAs = pool
	}
	switch {
	case (f.ClientCert == "") != (f.ClientKey == ""):
		return nil, errors.New("client-cert and client-key: give both or neither")
	case f.ClientCert != "":
		pair, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("client-cert and client-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
