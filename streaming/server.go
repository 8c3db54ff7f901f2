package streaming

import (
	"context"
	"google.golang.org/protobuf/proto"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

const (
	// streamIdleTimeout closes a stream nothing went through for this long,
	// as the kubelet's streaming server does.
	streamIdleTimeout = 4 * time.Hour
)

// Server is rktlet's streaming server. It hands out URLs that carry only a
// random single-use token, and serves them with the kubelet's streaming
// protocols from k8s.io/cri-streaming (SPDY, and websocket channel
// protocols up to v4), plus what that library lacks and today's clients
// speak: the v5 websocket channel protocol for exec and attach (stdin can be
// closed) and SPDY tunnelled through a websocket for port-forward.
type Server struct {
	baseURL *url.URL
	runtime *Runtime
	tokens  *tokenCache
	log     *slog.Logger
}

// NewServer returns a server whose URLs start with baseURL.
func NewServer(baseURL *url.URL, rt *Runtime, log *slog.Logger) *Server {
	return &Server{baseURL: baseURL, runtime: rt, tokens: newTokenCache(), log: log}
}

func (s *Server) url(kind, token string) string {
	return s.baseURL.ResolveReference(&url.URL{Path: "/" + kind + "/" + token}).String()
}

// GetExec returns the URL of an exec the CRI service checked.
func (s *Server) GetExec(req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	token, err := s.tokens.insert(req, proto.Size(req))
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ExecResponse{Url: s.url("exec", token)}, nil
}

// GetAttach returns the URL of an attach the CRI service checked.
func (s *Server) GetAttach(req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	token, err := s.tokens.insert(req, proto.Size(req))
	if err != nil {
		return nil, err
	}
	return &runtimeapi.AttachResponse{Url: s.url("attach", token)}, nil
}

// GetPortForward returns the URL of a port-forward the CRI service checked.
func (s *Server) GetPortForward(req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	token, err := s.tokens.insert(req, proto.Size(req))
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PortForwardResponse{Url: s.url("portforward", token)}, nil
}

// ServeHTTP serves /exec/<token>, /attach/<token> and /portforward/<token>.
// A token that is unknown, used already, expired or of another kind gets
// 404 and a log line (without the token).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind, token, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	req, ok := s.tokens.consume(token)
	if ok {
		switch req := req.(type) {
		case *runtimeapi.ExecRequest:
			if kind == "exec" {
				s.serveExec(w, r, req)
				return
			}
		case *runtimeapi.AttachRequest:
			if kind == "attach" {
				s.serveAttach(w, r, req)
				return
			}
		case *runtimeapi.PortForwardRequest:
			if kind == "portforward" {
				s.servePortForward(w, r, req)
				return
			}
		}
	}
	s.log.Warn("streaming request refused: unknown, used or expired token", "request", kind, "status", http.StatusNotFound, "remote", r.RemoteAddr)
	http.NotFound(w, r)
}

func (s *Server) serveExec(w http.ResponseWriter, r *http.Request, req *runtimeapi.ExecRequest) {
	opts := &remotecommandserver.Options{Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr, TTY: req.Tty}
	if wsstream.IsWebSocketRequestWithStreamCloseProtocol(r) {
		s.serveChannelsV5(w, r, opts, func(ctx context.Context, in io.Reader, out, errOut io.WriteCloser, resize <-chan remotecommandserver.TerminalSize) error {
			return s.runtime.Exec(ctx, req.ContainerId, req.Cmd, in, out, errOut, req.Tty, resize)
		})
		return
	}
	remotecommandserver.ServeExec(w, r, adapter{s.runtime}, "", "", req.ContainerId, req.Cmd, opts,
		streamIdleTimeout, remotecommandserver.DefaultStreamCreationTimeout, remotecommandserver.SupportedStreamingProtocols)
}

func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request, req *runtimeapi.AttachRequest) {
	opts := &remotecommandserver.Options{Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr, TTY: req.Tty}
	if wsstream.IsWebSocketRequestWithStreamCloseProtocol(r) {
		s.serveChannelsV5(w, r, opts, func(ctx context.Context, in io.Reader, out, errOut io.WriteCloser, resize <-chan remotecommandserver.TerminalSize) error {
			return s.runtime.Attach(ctx, req.ContainerId, in, out, errOut, req.Tty, resize)
		})
		return
	}
	remotecommandserver.ServeAttach(w, r, adapter{s.runtime}, "", "", req.ContainerId, opts,
		streamIdleTimeout, remotecommandserver.DefaultStreamCreationTimeout, remotecommandserver.SupportedStreamingProtocols)
}

func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request, req *runtimeapi.PortForwardRequest) {
	opts, err := portforward.BuildV4Options(req.Port)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if wsstream.IsWebSocketRequestWithTunnelingProtocol(r) {
		s.servePortForwardTunnel(w, r, req.PodSandboxId, opts)
		return
	}
	portforward.ServePortForward(w, r, adapter{s.runtime}, req.PodSandboxId, "", opts,
		streamIdleTimeout, remotecommandserver.DefaultStreamCreationTimeout, portforward.SupportedProtocols)
}

// adapter gives the library's handlers the runtime under the names they
// call: the container ID comes as the container name, the pod sandbox ID
// as the pod name.
type adapter struct{ rt *Runtime }

func (a adapter) ExecInContainer(ctx context.Context, _, _, containerID string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize, _ time.Duration) error {
	return a.rt.Exec(ctx, containerID, cmd, in, out, errOut, tty, resize)
}

func (a adapter) AttachContainer(ctx context.Context, _, _, containerID string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	return a.rt.Attach(ctx, containerID, in, out, errOut, tty, resize)
}

func (a adapter) PortForward(ctx context.Context, podID, _ string, port int32, stream io.ReadWriteCloser) error {
	return a.rt.PortForward(ctx, podID, port, stream)
}
