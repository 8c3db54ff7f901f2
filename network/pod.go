package network

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/libcni"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// PortMapping is a pod port published on the node, in the portmap plugin's
// terms.
type PortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// Pod is what CNI is told about a pod.
type Pod struct {
	ID        string
	Name      string
	Namespace string
	UID       string
	NetNS     string
	Ports     []PortMapping
}

// loopbackConfig brings the pod's lo up; it runs next to the node's network
// as its own network, as the kubelet's other runtimes do.
const loopbackConfig = `{"cniVersion": "1.0.0", "name": "rktlet-loopback", "plugins": [{"type": "loopback"}]}`

func (c *CNI) cniConfig() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir(c.PluginDirs, c.CacheDir, nil)
}

func runtimeConf(pod Pod, ifName string) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{
		ContainerID: pod.ID,
		NetNS:       pod.NetNS,
		IfName:      ifName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", pod.Namespace},
			{"K8S_POD_NAME", pod.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", pod.ID},
			{"K8S_POD_UID", pod.UID},
		},
	}
	var ports []PortMapping
	for _, p := range pod.Ports {
		if p.HostPort > 0 {
			ports = append(ports, p)
		}
	}
	if len(ports) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": ports}
	}
	return rt
}

// Setup adds the pod to the loopback network and the node's network, and
// returns the pod's IPs (every family the plugins gave).
func (c *CNI) Setup(ctx context.Context, pod Pod) ([]string, error) {
	list, err := c.LoadNetwork()
	if err != nil {
		return nil, err
	}
	lo, err := libcni.ConfListFromBytes([]byte(loopbackConfig))
	if err != nil {
		return nil, err
	}
	cfg := c.cniConfig()
	if _, err := cfg.AddNetworkList(ctx, lo, runtimeConf(pod, "lo")); err != nil {
		return nil, fmt.Errorf("CNI loopback: %w", err)
	}
	res, err := cfg.AddNetworkList(ctx, list, runtimeConf(pod, "eth0"))
	if err != nil {
		return nil, fmt.Errorf("CNI network %q: %w", list.Name, err)
	}
	return resultIPs(res)
}

func resultIPs(res cnitypes.Result) ([]string, error) {
	r, err := current.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("reading the CNI result: %w", err)
	}
	var ips []string
	for _, ip := range r.IPs {
		if ip.Address.IP != nil {
			ips = append(ips, ip.Address.IP.String())
		}
	}
	// IPv4 first: the kubelet takes the first as the pod's primary IP.
	var v4, v6 []string
	for _, ip := range ips {
		if strings.Contains(ip, ":") {
			v6 = append(v6, ip)
		} else {
			v4 = append(v4, ip)
		}
	}
	return append(v4, v6...), nil
}

// Teardown removes the pod from its networks. It is idempotent: a pod whose
// namespace is gone is still deleted from the plugins' state (IP
// allocations, port mappings), as the CNI spec asks of DEL without a netns.
// Each attachment is deleted with the config it was added with, from
// libcni's cache: the config directory may have changed, or be empty, by
// the time the pod goes, and its IP would leak for good.
func (c *CNI) Teardown(ctx context.Context, pod Pod) error {
	if !NetNSExists(pod.NetNS) {
		pod.NetNS = ""
	}
	cfg := c.cniConfig()
	attachments, err := cfg.GetCachedAttachments(pod.ID)
	if err != nil {
		return fmt.Errorf("reading libcni's cache of pod %s: %w", pod.ID, err)
	}
	var errs []error
	deleted := map[string]bool{}
	for _, a := range attachments {
		list, err := libcni.ConfListFromBytes(a.Config)
		if err != nil {
			errs = append(errs, fmt.Errorf("the cached config of CNI network %q: %w", a.Network, err))
			continue
		}
		err = cfg.DelNetworkList(ctx, list, runtimeConf(pod, a.IfName))
		if a.IfName == "lo" && pod.NetNS == "" {
			// Loopback lives and dies with the namespace and holds no
			// state: its DEL only clears libcni's cache entry.
			err = nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("CNI network %q: %w", a.Network, err))
			continue
		}
		deleted[a.IfName] = true
	}
	if !deleted["eth0"] && len(errs) == 0 {
		// No cache entry (a pod networked by an older rktlet, or an ADD
		// that failed before caching): DEL with today's config.
		list, err := c.LoadNetwork()
		switch {
		case errors.Is(err, ErrNoConfig):
			// Nothing to delete with, and nothing cached: the ADD never
			// completed, so nothing was allocated that DEL could free.
		case err != nil:
			errs = append(errs, err)
		default:
			if err := cfg.DelNetworkList(ctx, list, runtimeConf(pod, "eth0")); err != nil {
				errs = append(errs, fmt.Errorf("CNI network %q: %w", list.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
