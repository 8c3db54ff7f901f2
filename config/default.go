package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
)

// keyDocs says what each key means, in the order `rktlet config default`
// writes them. A test checks that every key of Config is here.
var keyDocs = []struct{ key, doc string }{
	{"socket", "Unix socket the CRI (gRPC runtime.v1) is served on; the kubelet's containerRuntimeEndpoint. Its directory is made if missing."},
	{"rkt-path", "The rkt binary, v1.30.0 with rktlet's patches (make rkt, make install)."},
	{"stage1-path", "The stage1-host image every pod runs with."},
	{"rkt-data-dir", "rkt's data directory: its pods and its image store."},
	{"state-dir", "rktlet's own state: sandbox and container records, log checkpoints, the image index."},
	{"cni-conf-dir", "Directory of CNI network configurations; the first in lexical order is used."},
	{"cni-plugin-dirs", "Directories searched for CNI plugins, in order."},
	{"stream-address", "host:port of the streaming server (exec, attach, port-forward); port 0 picks one.\nThe kubelet connects to it: keep it on loopback unless TLS is set."},
	{"stream-tls-cert", "PEM certificate of the streaming server; with stream-tls-key it speaks TLS."},
	{"stream-tls-key", "PEM private key of the streaming server."},
	{"log-level", "debug, info, warn or error."},
	{"log-format", "text (key=value lines) or json. Under systemd each line goes to the journal with its priority."},
	{"metrics-address", "host:port where Prometheus metrics are served, at /metrics; \"\" serves none.\nKeep it on loopback, or behind what guards the node's other metrics."},
	{"registry-mirrors-only", "Pull the images of a registry that has mirrors from its mirrors only (air-gapped nodes)."},
	{"registry-mirrors", "Mirrors tried in order before a registry itself, by registry host. An endpoint is\nhttp://host[:port] (plain HTTP) or https://host[:port], with an optional path put in\nfront of the repository (a proxy cache's project). For example:\n  \"registry.k8s.io\" = [\"https://mirror.example.com\"]\n  \"docker.io\" = [\"https://harbor.example.com/dockerhub-proxy\"]"},
	{"registry-hosts", "TLS settings of a registry or mirror, by host[:port] as in its endpoint: ca (a PEM\nfile trusted besides the system's roots), client-cert and client-key (PEM files\npresented to it), skip-verify (accept any certificate). For example:\n  [registry-hosts.\"harbor.example.com\"]\n  ca = \"/etc/rktlet/certs/harbor-ca.pem\""},
}

// DefaultTOML is a complete configuration file: every key at its default,
// with what it means. rktlet loads it back unchanged.
func DefaultTOML() string {
	def := Default()
	var b bytes.Buffer
	b.WriteString("# rktlet configuration (" + DefaultFile + "). Every key is shown at its default;\n")
	b.WriteString("# a flag of the same name (--" + "socket ...) overrides the file.\n")
	values := fieldsByKey(&def)
	var tables []string
	for _, k := range keyDocs {
		v := values[k.key]
		if v.Kind() == reflect.Map {
			tables = append(tables, k.key)
			continue
		}
		b.WriteString("\n" + comment(k.doc))
		b.WriteString(encode(k.key, v.Interface()))
	}
	for _, key := range tables {
		b.WriteString("\n" + comment(docOf(key)))
		b.WriteString("[" + key + "]\n")
		enc := map[string]any{}
		iter := values[key].MapRange()
		for iter.Next() {
			enc[iter.Key().String()] = iter.Value().Interface()
		}
		if len(enc) > 0 {
			var t bytes.Buffer
			_ = toml.NewEncoder(&t).Encode(enc)
			b.Write(t.Bytes())
		}
	}
	return b.String()
}

func docOf(key string) string {
	for _, k := range keyDocs {
		if k.key == key {
			return k.doc
		}
	}
	return ""
}

func comment(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		b.WriteString("# " + line + "\n")
	}
	return b.String()
}

func encode(key string, v any) string {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(map[string]any{key: v}); err != nil {
		panic(fmt.Sprintf("encoding the default of %s: %v", key, err))
	}
	return b.String()
}

// fieldsByKey maps each TOML key of c to its field.
func fieldsByKey(c *Config) map[string]reflect.Value {
	out := map[string]reflect.Value{}
	v := reflect.ValueOf(c).Elem()
	for i := 0; i < v.NumField(); i++ {
		key := strings.Split(v.Type().Field(i).Tag.Get("toml"), ",")[0]
		out[key] = v.Field(i)
	}
	return out
}
