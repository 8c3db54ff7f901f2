// Package network sets pods' network namespaces up and down with CNI.
package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
)

// CNI finds and loads the node's CNI network config.
type CNI struct {
	ConfDir    string
	PluginDirs []string
	// CacheDir keeps libcni's record of each attachment, which DEL needs.
	CacheDir string
}

// ErrNoConfig is returned when the config directory holds no usable network.
var ErrNoConfig = errors.New("no CNI network config")

// LoadNetwork loads the network pods join: the first config file in lexical
// order, as the kubelet's other runtimes do. It also checks that every plugin
// the config names is installed, so NetworkReady does not claim a network
// that would fail on the first pod.
func (c *CNI) LoadNetwork() (*libcni.NetworkConfigList, error) {
	files, err := libcni.ConfFiles(c.ConfDir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: directory %s does not exist", ErrNoConfig, c.ConfDir)
		}
		return nil, fmt.Errorf("reading CNI config directory %s: %w", c.ConfDir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoConfig, c.ConfDir)
	}
	sort.Strings(files)
	var problems []error
	for _, f := range files {
		list, err := loadFile(f)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if err := c.checkPlugins(f, list); err != nil {
			problems = append(problems, err)
			continue
		}
		return list, nil
	}
	return nil, fmt.Errorf("%w usable in %s: %w", ErrNoConfig, c.ConfDir, errors.Join(problems...))
}

func loadFile(path string) (*libcni.NetworkConfigList, error) {
	if filepath.Ext(path) == ".conflist" {
		list, err := libcni.ConfListFromFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(list.Plugins) == 0 {
			return nil, fmt.Errorf("%s: no plugins", path)
		}
		return list, nil
	}
	conf, err := libcni.ConfFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	list, err := libcni.ConfListFromConf(conf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return list, nil
}

func (c *CNI) checkPlugins(path string, list *libcni.NetworkConfigList) error {
	if _, err := invoke.FindInPath("loopback", c.PluginDirs); err != nil {
		return fmt.Errorf("the CNI loopback plugin (for the pods' lo) is not in %v", c.PluginDirs)
	}
	for _, p := range list.Plugins {
		if _, err := invoke.FindInPath(p.Network.Type, c.PluginDirs); err != nil {
			return fmt.Errorf("%s: network %q needs plugin %q, not found in %v", path, list.Name, p.Network.Type, c.PluginDirs)
		}
	}
	return nil
}
