package streaming

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"golang.org/x/net/websocket"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"
	utilexec "k8s.io/utils/exec"
)

// The v5 websocket channel protocol (what kubectl and client-go's websocket
// executor offer, alone): v4's channels, plus a close signal with which the
// client ends its stdin.
const channelProtocolV5 = "v5.channel.k8s.io"

const (
	stdinChannel = iota
	stdoutChannel
	stderrChannel
	errorChannel
	resizeChannel
)

func channelIf(use bool, t wsstream.ChannelType) wsstream.ChannelType {
	if use {
		return t
	}
	return wsstream.IgnoreChannel
}

// serveChannelsV5 runs an exec or attach over a v5 websocket: stdin, stdout,
// stderr, the error channel (the result, as a JSON status) and the resize
// channel (JSON terminal sizes).
func (s *Server) serveChannelsV5(w http.ResponseWriter, r *http.Request, opts *remotecommandserver.Options,
	run func(ctx context.Context, in io.Reader, out, errOut io.WriteCloser, resize <-chan remotecommandserver.TerminalSize) error) {
	channels := []wsstream.ChannelType{
		stdinChannel:  channelIf(opts.Stdin, wsstream.ReadChannel),
		stdoutChannel: channelIf(opts.Stdout, wsstream.WriteChannel),
		stderrChannel: channelIf(opts.Stderr, wsstream.WriteChannel),
		errorChannel:  wsstream.WriteChannel,
		resizeChannel: channelIf(opts.TTY, wsstream.ReadChannel),
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		channelProtocolV5: {Binary: true, Channels: channels},
	})
	conn.SetIdleTimeout(streamIdleTimeout)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		s.log.Warn("websocket stream not opened", "remote", r.RemoteAddr, "error", err)
		return
	}
	defer conn.Close()

	// An empty message on the first writable channel tells the client the
	// streams are up.
	switch {
	case opts.Stdout:
		_, _ = streams[stdoutChannel].Write(nil)
	case opts.Stderr:
		_, _ = streams[stderrChannel].Write(nil)
	default:
		_, _ = streams[errorChannel].Write(nil)
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var in io.Reader
	var out, errOut io.WriteCloser
	if opts.Stdin {
		in = streams[stdinChannel]
	}
	if opts.Stdout {
		out = streams[stdoutChannel]
	}
	if opts.Stderr {
		errOut = streams[stderrChannel]
	}
	var resize chan remotecommandserver.TerminalSize
	if opts.TTY {
		resize = make(chan remotecommandserver.TerminalSize, 1)
		go decodeResizes(ctx, streams[resizeChannel], resize)
	}
	result := run(ctx, in, out, errOut, resize)
	if err := writeStatus(streams[errorChannel], result); err != nil {
		s.log.Debug("writing a stream's result", "remote", r.RemoteAddr, "error", err)
	}
}

// decodeResizes passes on the terminal sizes the client sends until the
// stream or ctx ends.
func decodeResizes(ctx context.Context, r io.Reader, sizes chan<- remotecommandserver.TerminalSize) {
	defer close(sizes)
	dec := json.NewDecoder(r)
	for {
		var size remotecommandserver.TerminalSize
		if err := dec.Decode(&size); err != nil {
			return
		}
		select {
		case sizes <- size:
		case <-ctx.Done():
			return
		}
	}
}

// streamStatus is the JSON the error channel carries (a Kubernetes
// metav1.Status, as far as clients read it).
type streamStatus struct {
	Status  string         `json:"status,omitempty"`
	Message string         `json:"message,omitempty"`
	Reason  string         `json:"reason,omitempty"`
	Details *statusDetails `json:"details,omitempty"`
	Code    int32          `json:"code,omitempty"`
}

type statusDetails struct {
	Causes []statusCause `json:"causes,omitempty"`
}

type statusCause struct {
	Type    string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

func writeStatus(w io.Writer, result error) error {
	st := streamStatus{Status: "Success"}
	var exitErr utilexec.ExitError
	switch {
	case result == nil:
	case errors.As(result, &exitErr) && exitErr.Exited():
		st = streamStatus{
			Status:  "Failure",
			Reason:  remotecommandserver.NonZeroExitCodeReason,
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", result),
			Details: &statusDetails{Causes: []statusCause{{
				Type: remotecommandserver.ExitCodeCauseType, Message: fmt.Sprint(exitErr.ExitStatus()),
			}}},
		}
	default:
		st = streamStatus{
			Status:  "Failure",
			Reason:  "InternalError",
			Message: fmt.Sprintf("Internal error occurred: %v", result),
			Code:    http.StatusInternalServerError,
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// servePortForwardTunnel serves a port-forward whose SPDY connection comes
// inside a websocket (the "SPDY/3.1+portforward.k8s.io" subprotocol of
// client-go's tunnelling dialer): the websocket's binary messages carry the
// SPDY bytes both ways, so the library's SPDY port-forward runs on the
// websocket as on a hijacked connection, minus the HTTP upgrade.
func (s *Server) servePortForwardTunnel(w http.ResponseWriter, r *http.Request, podID string, opts *portforward.V4Options) {
	tunnelProtocol := "SPDY/3.1+" + portforward.ProtocolV1Name
	websocket.Server{
		Handshake: func(cfg *websocket.Config, _ *http.Request) error {
			for _, p := range cfg.Protocol {
				if p == tunnelProtocol {
					cfg.Protocol = []string{p}
					return nil
				}
			}
			return fmt.Errorf("none of the websocket protocols %q is %s", cfg.Protocol, tunnelProtocol)
		},
		Handler: func(ws *websocket.Conn) {
			ws.PayloadType = websocket.BinaryFrame
			// What the library expects of a SPDY port-forward request.
			spdyReq := r.Clone(r.Context())
			spdyReq.Header = http.Header{}
			spdyReq.Header.Set(httpstream.HeaderConnection, httpstream.HeaderUpgrade)
			spdyReq.Header.Set(httpstream.HeaderUpgrade, spdy.HeaderSpdy31)
			spdyReq.Header.Set(httpstream.HeaderProtocolVersion, portforward.ProtocolV1Name)
			tw := &tunnelResponseWriter{conn: ws, header: http.Header{}}
			portforward.ServePortForward(tw, spdyReq, adapter{s.runtime}, podID, "", opts,
				streamIdleTimeout, remotecommandserver.DefaultStreamCreationTimeout, []string{portforward.ProtocolV1Name})
			if tw.status != 0 && tw.status != http.StatusSwitchingProtocols {
				s.log.Warn("tunnelled port-forward refused", "remote", r.RemoteAddr, "status", tw.status, "body", tw.body)
			}
		},
	}.ServeHTTP(w, r)
}

// tunnelResponseWriter is the response of a SPDY upgrade that happens inside
// a websocket already open: the upgrade's status line and headers go
// nowhere (the tunnelling client starts SPDY right away) and hijacking
// returns the websocket.
type tunnelResponseWriter struct {
	conn   net.Conn
	header http.Header
	status int
	body   string
}

func (t *tunnelResponseWriter) Header() http.Header { return t.header }

func (t *tunnelResponseWriter) WriteHeader(code int) {
	if t.status == 0 {
		t.status = code
	}
}

// Write keeps an error body for the log: nothing but SPDY frames may go
// into the tunnel.
func (t *tunnelResponseWriter) Write(b []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	if len(t.body) < 512 {
		t.body += string(b)
	}
	return len(b), nil
}

func (t *tunnelResponseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return t.conn, bufio.NewReadWriter(bufio.NewReader(t.conn), bufio.NewWriter(t.conn)), nil
}
