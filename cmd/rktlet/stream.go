package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/rktlet/rktlet/config"
)

// streamListener is where rktlet's streaming server listens: 127.0.0.1 and
// an ephemeral port unless configured otherwise (the kubelet proxies
// streams to it), TLS when a certificate is configured. Its URLs carry only
// a random single-use token, which expires after a minute.
type streamListener struct {
	listener  net.Listener
	tlsConfig *tls.Config
	url       *url.URL
	http      *http.Server
}

func listenStream(cfg config.Config) (*streamListener, error) {
	ln, err := net.Listen("tcp", cfg.StreamAddress)
	if err != nil {
		return nil, fmt.Errorf("streaming server on %s: %w", cfg.StreamAddress, err)
	}
	s := &streamListener{listener: ln, url: &url.URL{Scheme: "http", Host: ln.Addr().String()}}
	if cfg.StreamTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.StreamTLSCert, cfg.StreamTLSKey)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("stream-tls-cert/stream-tls-key: %w", err)
		}
		s.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.url.Scheme = "https"
	}
	return s, nil
}

// handle sets what the listener serves; serve then serves it until close.
func (s *streamListener) handle(handler http.Handler) {
	s.http = &http.Server{Handler: handler, TLSConfig: s.tlsConfig, ReadHeaderTimeout: 10 * time.Second}
}

func (s *streamListener) serve() error {
	var err error
	if s.tlsConfig != nil {
		err = s.http.ServeTLS(s.listener, "", "")
	} else {
		err = s.http.Serve(s.listener)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *streamListener) close(ctx context.Context) {
	if s.http != nil {
		_ = s.http.Shutdown(ctx)
	} else {
		s.listener.Close()
	}
}
