// Command fuzz sends malformed and hostile CRI requests to one rktlet over
// its socket, for every RPC of the RuntimeService and the ImageService, and
// checks that each gets a clear answer: no Unknown or Internal code, no
// hang, no panic (Version answers throughout), no file made outside the
// log directory it owns, and nothing it created left behind.
//
// Requests are built from the protobuf descriptors of the CRI, every field
// filled at random from pools of hostile values (empty, huge, NUL bytes,
// "..", paths to FIFOs and devices, IDs of real pods and containers and
// their prefixes, out-of-range numbers and enum values), so a new field of
// the CRI is fuzzed without a change here. It is bounded in count and time
// and talks only to the socket it is given.
//
//	fuzz -socket /run/rktlet/rktlet.sock -requests 10000 -duration 15m -image IMAGE
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func main() {
	socket := flag.String("socket", "/run/rktlet/rktlet.sock", "rktlet's CRI socket")
	requests := flag.Int("requests", 10000, "how many requests to send")
	duration := flag.Duration("duration", 15*time.Minute, "stop after this long even if requests remain")
	seed := flag.Int64("seed", time.Now().UnixNano(), "random seed (printed, to repeat a run)")
	image := flag.String("image", "registry.k8s.io/e2e-test-images/busybox:1.29-2", "an image the registry serves, for the anchor container")
	flag.Parse()
	if err := run(*socket, *requests, *duration, *seed, *image); err != nil {
		fmt.Fprintln(os.Stderr, "fuzz:", err)
		os.Exit(1)
	}
}

// fuzzer holds the connection, the pools of values and what the run made.
type fuzzer struct {
	conn    *grpc.ClientConn
	rt      runtimeapi.RuntimeServiceClient
	rnd     *rand.Rand
	image   string
	workDir string // the run's own directory: log directory, FIFO, sentinel
	logDir  string
	guarded string // must stay empty: hostile log paths aim here

	anchorPod, anchorCtr string
	madePods             map[string]bool
	madeCtrs             map[string]bool

	counts   map[string]map[codes.Code]int
	failures []string
}

func run(socket string, requests int, duration time.Duration, seed int64, image string) error {
	fmt.Printf("fuzz: seed %d, %d requests or %s, socket %s\n", seed, requests, duration, socket)
	conn, err := grpc.NewClient("unix://"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(32<<20), grpc.MaxCallSendMsgSize(32<<20)))
	if err != nil {
		return err
	}
	defer conn.Close()
	work, err := os.MkdirTemp("", "rktlet-fuzz-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	f := &fuzzer{
		conn: conn, rt: runtimeapi.NewRuntimeServiceClient(conn), rnd: rand.New(rand.NewSource(seed)),
		image: image, workDir: work, logDir: filepath.Join(work, "logs"), guarded: filepath.Join(work, "guarded"),
		madePods: map[string]bool{}, madeCtrs: map[string]bool{}, counts: map[string]map[codes.Code]int{},
	}
	for _, d := range []string{f.logDir, f.guarded} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := syscall.Mkfifo(filepath.Join(work, "fifo"), 0o600); err != nil {
		return err
	}
	if err := os.Symlink(f.guarded, filepath.Join(f.logDir, "escape")); err != nil {
		return err
	}
	defer f.cleanup()
	if err := f.makeAnchors(); err != nil {
		return fmt.Errorf("creating the anchor pod and container: %w", err)
	}

	methods := crMethods()
	deadline := time.Now().Add(duration)
	sent := 0
	for ; sent < requests && time.Now().Before(deadline); sent++ {
		if sent%50 == 0 {
			if err := f.versionAnswers(); err != nil {
				return fmt.Errorf("after %d requests: %w", sent, err)
			}
		}
		if sent%250 == 0 {
			f.keepAnchors()
		}
		f.send(methods[f.rnd.Intn(len(methods))])
	}
	if err := f.versionAnswers(); err != nil {
		return fmt.Errorf("after %d requests: %w", sent, err)
	}
	f.cleanup()
	f.checkFiles()
	f.checkLeftovers()
	f.printTable(sent)
	if len(f.failures) > 0 {
		for _, m := range f.failures {
			fmt.Println("FAIL:", m)
		}
		return fmt.Errorf("%d failures in %d requests", len(f.failures), sent)
	}
	fmt.Printf("fuzz: %d requests, 0 failures\n", sent)
	return nil
}

// crMethods lists every unary and server-streaming method of both services.
func crMethods() []protoreflect.MethodDescriptor {
	var out []protoreflect.MethodDescriptor
	fd := runtimeapi.File_staging_src_k8s_io_cri_api_pkg_apis_runtime_v1_api_proto
	for i := 0; i < fd.Services().Len(); i++ {
		svc := fd.Services().Get(i)
		for j := 0; j < svc.Methods().Len(); j++ {
			out = append(out, svc.Methods().Get(j))
		}
	}
	return out
}

func fullMethod(m protoreflect.MethodDescriptor) string {
	return "/" + string(m.Parent().FullName()) + "/" + string(m.Name())
}

func newMessage(name protoreflect.FullName) proto.Message {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		panic(err)
	}
	return mt.New().Interface()
}

// send builds a random request for m, sends it and classifies the answer.
func (f *fuzzer) send(m protoreflect.MethodDescriptor) {
	req := newMessage(m.Input().FullName())
	f.fill(req.ProtoReflect(), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if m.IsStreamingServer() {
		var stream grpc.ClientStream
		stream, err = f.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, fullMethod(m))
		if err == nil {
			if err = stream.SendMsg(req); err == nil {
				if err = stream.CloseSend(); err == nil {
					err = stream.RecvMsg(newMessage(m.Output().FullName()))
				}
			}
		}
	} else {
		resp := newMessage(m.Output().FullName())
		err = f.conn.Invoke(ctx, fullMethod(m), req, resp)
		if err == nil {
			f.remember(resp)
		}
	}
	code := status.Code(err)
	name := string(m.Name())
	if f.counts[name] == nil {
		f.counts[name] = map[codes.Code]int{}
	}
	f.counts[name][code]++
	switch {
	case ctx.Err() != nil:
		f.failures = append(f.failures, fmt.Sprintf("%s did not answer in 30 s: %s", name, brief(req)))
	case code == codes.Unknown || code == codes.Internal:
		f.failures = append(f.failures, fmt.Sprintf("%s answered %s: %v\n  request: %s", name, code, err, brief(req)))
	case code == codes.Unavailable:
		// Not bad input's answer as a rule (a registry that does not
		// answer, a unit that did not start), but worth a look.
		fmt.Printf("note: %s answered Unavailable: %v\n  request: %s\n", name, err, brief(req))
	}
}

// brief prints a request, cut to a readable size.
func brief(m proto.Message) string {
	s := fmt.Sprint(m)
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}

// remember notes the pods and containers a request created, to remove
// them at the end (and not to keep many running meanwhile).
func (f *fuzzer) remember(resp proto.Message) {
	switch r := resp.(type) {
	case *runtimeapi.RunPodSandboxResponse:
		if id := r.GetPodSandboxId(); id != "" && id != f.anchorPod {
			f.madePods[id] = true
			f.removePod(id)
		}
	case *runtimeapi.CreateContainerResponse:
		if id := r.GetContainerId(); id != "" && id != f.anchorCtr {
			f.madeCtrs[id] = true
			f.removeContainer(id)
		}
	}
}

// --- values -----------------------------------------------------------------

func (f *fuzzer) ids() []string {
	out := []string{"", "x", strings.Repeat("f", 64), strings.Repeat("0", 64), "../../../etc", "a\x00b", "ctr-", "*", "%s%n"}
	for _, id := range []string{f.anchorPod, f.anchorCtr} {
		if id != "" {
			out = append(out, id, id, id[:1], id[:12], strings.ToUpper(id), id+"x")
		}
	}
	return out
}

var hostileStrings = []string{
	"", " ", "a", "..", "../..", "/", "a,b", "a=b", "a;b", "a&b", "a%zz", "a+b", "a\nb", "a\x00b", "\u202e\u0000",
	"ünïcödé", "$(reboot)", "`id`", "-rf", "--help", "%s%s%n", "0", "-1", "4294967296",
	strings.Repeat("A", 256), strings.Repeat("B", 70000), "default", "kube-system", "RuntimeDefault", "unconfined",
	"localhost/none", "runtime/default",
}

// hostileBytes are not UTF-8: only bytes fields may carry them, since
// gRPC's protobuf codec refuses such a string field at the client (and at
// the server, with Internal, before rktlet sees the request).
var hostileBytes = []string{"\xff\xfe", "\x00\x00\x00", "\xc3"}

// pathPools hold, for fields that name files, values that are hostile but
// never a new absolute path outside the run's directory (rktlet makes
// missing host paths of valid mounts, as the kubelet's runtimes do).
func (f *fuzzer) pathPool(field string) []string {
	switch field {
	case "log_directory":
		return []string{"", f.logDir, "relative/logs", "logs", f.logDir + "/escape"}
	case "log_path":
		return []string{"", "c.log", "../guarded/up.log", "../../" + filepath.Base(f.workDir) + "/guarded/x.log",
			"escape/through-link.log", "/abs.log", "a/../../guarded/y.log", "a\x00b.log", "sub/dir/c.log", ".", ".."}
	case "host_path", "localhost_ref", "checkpoint_path", "path":
		return []string{"", "/", "/etc", "/etc/passwd", "/dev/null", "/dev/zero", "/proc/self/mem", filepath.Join(f.workDir, "fifo"),
			f.logDir, "relative", "../etc", "/etc/../etc", "/a\x00b", "/tmp/a,b=c", "/dev/kmsg"}
	case "container_path":
		return []string{"", "/", "/mnt", "/proc", "/sys/fs/cgroup", "relative", "/a,b", "/a\x00b", "/etc/passwd", "/dev/x"}
	}
	return nil
}

func (f *fuzzer) images() []string {
	return []string{"", f.image, "busybox", "sha256:" + strings.Repeat("a", 64), "registry.k8s.io/none:tag", "UPPER/Case",
		"a@sha256:bad", "127.0.0.1:1/x:y", "::::", f.image + "@sha256:" + strings.Repeat("0", 64), "localhost/" + strings.Repeat("n", 300)}
}

var hostileInts = []int64{0, 1, -1, 2, 10, 100, 1000, 65535, 65536, math.MaxInt32, math.MinInt32, 4294967295, 4294967296,
	math.MaxInt64, math.MinInt64, 1 << 40, 1024 * 1024, 1_000_000_000}

func (f *fuzzer) pick(pool []string) string { return pool[f.rnd.Intn(len(pool))] }

func (f *fuzzer) str(fd protoreflect.FieldDescriptor) string {
	name := string(fd.Name())
	if pool := f.pathPool(name); pool != nil {
		return f.pick(pool)
	}
	switch {
	case strings.HasSuffix(name, "_id") || name == "id" || name == "sandbox_id":
		return f.pick(f.ids())
	case name == "image" || name == "user_specified_image" || name == "image_ref":
		return f.pick(f.images())
	}
	return f.pick(hostileStrings)
}

func (f *fuzzer) scalar(fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(f.str(fd))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(f.pick(append(hostileBytes, hostileStrings...))))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(f.rnd.Intn(2) == 0)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		if f.rnd.Intn(8) == 0 {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(99 + f.rnd.Intn(3)))
		}
		return protoreflect.ValueOfEnum(vals.Get(f.rnd.Intn(vals.Len())).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(hostileInts[f.rnd.Intn(len(hostileInts))]))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(hostileInts[f.rnd.Intn(len(hostileInts))])
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(hostileInts[f.rnd.Intn(len(hostileInts))]))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(hostileInts[f.rnd.Intn(len(hostileInts))]))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64([]float64{0, -1, math.Inf(1), math.NaN(), 1e300}[f.rnd.Intn(5)])
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32([]float64{0, -1, math.Inf(1), math.NaN()}[f.rnd.Intn(4)]))
	}
	panic(fmt.Sprintf("field %s of kind %s", fd.FullName(), fd.Kind()))
}

// fill sets a random subset of a message's fields, nested messages too
// down to a depth.
func (f *fuzzer) fill(m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if f.rnd.Intn(3) == 0 {
			continue
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for n := f.rnd.Intn(4); n > 0; n-- {
				key := f.scalar(fd.MapKey()).MapKey()
				if fd.MapValue().Kind() == protoreflect.MessageKind {
					v := mp.NewValue()
					if depth < 4 {
						f.fill(v.Message(), depth+1)
					}
					mp.Set(key, v)
				} else {
					mp.Set(key, f.scalar(fd.MapValue()))
				}
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for n := f.rnd.Intn(4); n > 0; n-- {
				if fd.Kind() == protoreflect.MessageKind {
					v := l.NewElement()
					if depth < 4 {
						f.fill(v.Message(), depth+1)
					}
					l.Append(v)
				} else {
					l.Append(f.scalar(fd))
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			if depth < 5 {
				f.fill(m.Mutable(fd).Message(), depth+1)
			}
		default:
			m.Set(fd, f.scalar(fd))
		}
	}
}

// --- the anchors: a real pod and container, so IDs reach deep ---------------

func (f *fuzzer) podConfig(name string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "fuzz", Uid: fmt.Sprintf("fuzz-%d", f.rnd.Int63())},
		LogDirectory: f.logDir,
	}
}

func (f *fuzzer) makeAnchors() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img := runtimeapi.NewImageServiceClient(f.conn)
	if _, err := img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: f.image}}); err != nil {
		return err
	}
	if f.anchorPod == "" {
		cfg := f.podConfig("anchor")
		r, err := f.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
		if err != nil {
			return err
		}
		f.anchorPod = r.GetPodSandboxId()
		f.madePods[f.anchorPod] = true
	}
	st, err := f.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: f.anchorPod})
	if err != nil {
		return err
	}
	c, err := f.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId:  f.anchorPod,
		SandboxConfig: &runtimeapi.PodSandboxConfig{Metadata: st.GetStatus().GetMetadata(), LogDirectory: f.logDir},
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "anchor", Attempt: uint32(f.rnd.Int31())},
			Image:    &runtimeapi.ImageSpec{Image: f.image},
			Command:  []string{"sh", "-c", "while true; do echo anchor; sleep 1; done"},
			LogPath:  "anchor.log",
		},
	})
	if err != nil {
		return err
	}
	f.anchorCtr = c.GetContainerId()
	f.madeCtrs[f.anchorCtr] = true
	_, err = f.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: f.anchorCtr})
	return err
}

// keepAnchors makes the anchors again when the fuzzing removed them.
func (f *fuzzer) keepAnchors() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if st, err := f.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: f.anchorPod}); err != nil ||
		st.GetStatus().GetState() != runtimeapi.PodSandboxState_SANDBOX_READY {
		f.removePod(f.anchorPod)
		f.anchorPod, f.anchorCtr = "", ""
	} else if st, err := f.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: f.anchorCtr}); err == nil &&
		st.GetStatus().GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING {
		return
	}
	if err := f.makeAnchors(); err != nil {
		f.failures = append(f.failures, fmt.Sprintf("making the anchors again: %v", err))
	}
}

func (f *fuzzer) versionAnswers() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.rt.Version(ctx, &runtimeapi.VersionRequest{}); err != nil {
		return fmt.Errorf("Version: %w", err)
	}
	return nil
}

func (f *fuzzer) removeContainer(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := f.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		f.failures = append(f.failures, fmt.Sprintf("removing container %s it made: %v", id, err))
	}
}

func (f *fuzzer) removePod(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := f.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		f.failures = append(f.failures, fmt.Sprintf("stopping pod %s it made: %v", id, err))
	}
	if _, err := f.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		f.failures = append(f.failures, fmt.Sprintf("removing pod %s it made: %v", id, err))
	}
}

// cleanup removes every pod and container the run made (idempotent).
func (f *fuzzer) cleanup() {
	for id := range f.madeCtrs {
		f.removeContainer(id)
	}
	for id := range f.madePods {
		f.removePod(id)
	}
	f.madeCtrs, f.madePods = map[string]bool{}, map[string]bool{}
}

// checkFiles: nothing may have been made in the guarded directory, which
// the hostile log paths aim at.
func (f *fuzzer) checkFiles() {
	_ = filepath.Walk(f.guarded, func(path string, info os.FileInfo, err error) error {
		if err == nil && path != f.guarded {
			f.failures = append(f.failures, fmt.Sprintf("a file was made outside the log directory: %s", path))
		}
		return nil
	})
}

// checkLeftovers: no pod of the run's namespace is left.
func (f *fuzzer) checkLeftovers() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods, err := f.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		f.failures = append(f.failures, fmt.Sprintf("ListPodSandbox at the end: %v", err))
		return
	}
	for _, p := range pods.GetItems() {
		if p.GetMetadata().GetNamespace() == "fuzz" {
			f.failures = append(f.failures, fmt.Sprintf("pod %s (%s) is left", p.GetId(), p.GetMetadata().GetName()))
		}
	}
}

// printTable prints RPC × code counts.
func (f *fuzzer) printTable(sent int) {
	seen := map[codes.Code]bool{}
	var names []string
	for name, byCode := range f.counts {
		names = append(names, name)
		for c := range byCode {
			seen[c] = true
		}
	}
	sort.Strings(names)
	var cols []codes.Code
	for c := range seen {
		cols = append(cols, c)
	}
	sort.Slice(cols, func(i, j int) bool { return cols[i] < cols[j] })
	fmt.Printf("\n| RPC (%d requests) |", sent)
	for _, c := range cols {
		fmt.Printf(" %s |", c)
	}
	fmt.Print("\n|---|")
	for range cols {
		fmt.Print("---:|")
	}
	fmt.Println()
	for _, name := range names {
		fmt.Printf("| %s |", name)
		for _, c := range cols {
			fmt.Printf(" %d |", f.counts[name][c])
		}
		fmt.Println()
	}
	fmt.Println()
}
