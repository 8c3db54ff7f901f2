package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rktlet/rktlet/config"
	"github.com/rktlet/rktlet/streaming"
	criStreaming "k8s.io/cri-streaming/pkg/streaming"
)

// streamServer is the kubelet's CRI streaming server on its own listener:
// 127.0.0.1 and an ephemeral port unless configured otherwise (the kubelet
// proxies streams to it), TLS when a certificate is configured. URLs carry
// only the server's random single-use token, which expires after a minute.
type streamServer struct {
	criStreaming.Server
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
	sc := criStreaming.DefaultConfig
	sc.Addr = ln.Addr().String()
	sc.BaseURL = base
	sc.TLSConfig = tlsConfig
	srv, err := criStreaming.NewServer(sc, rt)
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &streamServer{Server: srv, listener: ln, url: base}
	s.http = &http.Server{
		Handler:           logRefused(srv, log),
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

// statusRecorder remembers a response's status; it passes hijacking on
// (SPDY and websocket upgrades need it).
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the connection cannot be hijacked")
	}
	return h.Hijack()
}

// logRefused logs every streaming request the server turned away: a token
// that is unknown, used already or expired is answered 404 by the server.
func logRefused(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == http.StatusNotFound || rec.status == http.StatusUnauthorized || rec.status == http.StatusForbidden {
			// The path's first element says exec, attach or
			// portforward; the token after it is not logged.
			kind, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
			log.Warn("streaming request refused: unknown, used or expired token", "request", kind, "status", rec.status, "remote", r.RemoteAddr)
		}
	})
}
