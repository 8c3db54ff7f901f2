package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/rktlet/rktlet/config"
	"github.com/rktlet/rktlet/streaming"
)

// streamServer is rktlet's streaming server on its own listener: 127.0.0.1
// and an ephemeral port unless configured otherwise (the kubelet proxies
// streams to it), TLS when a certificate is configured. URLs carry only a
// random single-use token, which expires after a minute.
type streamServer struct {
	*streaming.Server
	http     *http.Server
	listener net.Listener
	url      *url.URL
}

func newStreamServer(cfg config.Config, rt *streaming.Runtime, log *slog.Logger) (*streamServer, error) {
	ln, err := net.Listen("tcp", cfg.StreamAddress)
	if err != nil {
		return nil, fmt.Errorf("streaming server on %s: %w", cfg.StreamAddress, err)
	}
	scheme := "http"
	var tlsConfig *tls.Config
	if cfg.StreamTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.StreamTLSCert, cfg.StreamTLSKey)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("stream-tls-cert/stream-tls-key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	base := &url.URL{Scheme: scheme, Host: ln.Addr().String()}
	srv := streaming.NewServer(base, rt, log)
	s := &streamServer{Server: srv, listener: ln, url: base}
	s.http = &http.Server{
		Handler:           srv,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
	}
	return s, nil
}

func (s *streamServer) serve() error {
	var err error
	if s.http.TLSConfig != nil {
		err = s.http.ServeTLS(s.listener, "", "")
	} else {
		err = s.http.Serve(s.listener)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *streamServer) close(ctx context.Context) {
	_ = s.http.Shutdown(ctx)
}
