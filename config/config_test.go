package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rktlet.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load([]string{"--config", writeFile(t, "")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Fatalf("got %+v, want the defaults %+v", cfg, Default())
	}
	if cfg.Socket != "/run/rktlet/rktlet.sock" || cfg.RktDataDir != "/var/lib/rktlet/rkt" {
		t.Fatalf("unexpected defaults %+v", cfg)
	}
}

func TestLoadFileThenFlags(t *testing.T) {
	file := writeFile(t, `
socket = "/run/from-file.sock"
rkt-path = "/opt/rkt/rkt"
stage1-path = "/opt/rkt/stage1-host.aci"
cni-plugin-dirs = ["/opt/cni/bin"]
log-level = "debug"

[registry-mirrors]
"registry.k8s.io" = ["http://127.0.0.1:5000", "https://mirror.example"]
"gcr.io" = ["http://127.0.0.1:5000"]
`)
	cfg, err := Load([]string{
		"--config", file,
		"--socket", "/run/from-flag.sock",
		"--registry-mirror", "gcr.io=http://127.0.0.1:6000",
		"--cni-plugin-dirs", "/a,/b",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Socket != "/run/from-flag.sock" {
		t.Errorf("flag did not override the file: socket %q", cfg.Socket)
	}
	if cfg.RktPath != "/opt/rkt/rkt" || cfg.Stage1Path != "/opt/rkt/stage1-host.aci" || cfg.LogLevel != "debug" {
		t.Errorf("file values lost: %+v", cfg)
	}
	if !reflect.DeepEqual(cfg.CNIPluginDirs, []string{"/a", "/b"}) {
		t.Errorf("cni-plugin-dirs %v", cfg.CNIPluginDirs)
	}
	want := map[string][]string{
		"registry.k8s.io": {"http://127.0.0.1:5000", "https://mirror.example"},
		"gcr.io":          {"http://127.0.0.1:6000"},
	}
	if !reflect.DeepEqual(cfg.RegistryMirrors, want) {
		t.Errorf("mirrors %v, want %v", cfg.RegistryMirrors, want)
	}
}

func TestLoadRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string
		args    []string
		wantKey string
	}{
		{name: "unknown key", file: "sockett = \"/run/x.sock\"\n", wantKey: "sockett"},
		{name: "unknown key in a table", file: "[stream]\naddress = \"x\"\n", wantKey: "stream"},
		{name: "wrong type", file: "socket = 5\n", wantKey: "socket"},
		{name: "relative path", file: "rkt-path = \"bin/rkt\"\n", wantKey: "rkt-path"},
		{name: "empty path", file: "state-dir = \"\"\n", wantKey: "state-dir"},
		{name: "bad log level", file: "log-level = \"loud\"\n", wantKey: "log-level"},
		{name: "bad stream address", file: "stream-address = \"nowhere\"\n", wantKey: "stream-address"},
		{name: "stream address not an IP", file: "stream-address = \"example.com:80\"\n", wantKey: "stream-address"},
		{name: "mirror without scheme", file: "[registry-mirrors]\n\"gcr.io\" = [\"127.0.0.1:5000\"]\n", wantKey: "registry-mirrors"},
		{name: "mirror with the API path", file: "[registry-mirrors]\n\"gcr.io\" = [\"http://127.0.0.1:5000/v2\"]\n", wantKey: "registry-mirrors"},
		{name: "mirror with query", file: "[registry-mirrors]\n\"gcr.io\" = [\"https://m.example/p?x=1\"]\n", wantKey: "registry-mirrors"},
		{name: "mirror with a bad prefix", file: "[registry-mirrors]\n\"gcr.io\" = [\"https://m.example/Proxy\"]\n", wantKey: "registry-mirrors"},
		{name: "unknown registry host key", file: "[registry-hosts.\"m.example\"]\ncafile = \"/x\"\n", wantKey: "cafile"},
		{name: "missing CA", file: "[registry-hosts.\"m.example\"]\nca = \"/nonexistent/ca.pem\"\n", wantKey: "/nonexistent/ca.pem"},
		{name: "CA not PEM", file: "[registry-hosts.\"m.example\"]\nca = \"/dev/null\"\n", wantKey: "registry-hosts"},
		{name: "relative CA", file: "[registry-hosts.\"m.example\"]\nca = \"ca.pem\"\n", wantKey: "registry-hosts"},
		{name: "client cert without key", file: "[registry-hosts.\"m.example\"]\nclient-cert = \"/etc/c.pem\"\n", wantKey: "client-key"},
		{name: "registry host with scheme", file: "[registry-hosts.\"https://m.example\"]\nskip-verify = true\n", wantKey: "registry-hosts"},
		{name: "bad registry-host flag", args: []string{"--registry-host", "m.example=cafile=/x"}, wantKey: "cafile"},
		{name: "mirror without endpoints", file: "[registry-mirrors]\n\"gcr.io\" = []\n", wantKey: "registry-mirrors"},
		{name: "broken TOML", file: "socket = \n", wantKey: "rktlet.toml"},
		{name: "bad flag value", args: []string{"--registry-mirror", "gcr.io"}, wantKey: "registry-mirror"},
		{name: "unknown flag", args: []string{"--sockett", "/x"}, wantKey: "sockett"},
		{name: "stray argument", args: []string{"serve"}, wantKey: "serve"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--config", writeFile(t, tc.file)}, tc.args...)
			devnull, _ := os.Open(os.DevNull)
			defer devnull.Close()
			_, err := Load(args, devnull)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.wantKey) {
				t.Fatalf("error %q does not name %q", err, tc.wantKey)
			}
		})
	}
}

func TestLoadMissingConfigFile(t *testing.T) {
	_, err := Load([]string{"--config", "/nonexistent/rktlet.toml"}, nil)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/rktlet.toml") {
		t.Fatalf("got %v, want an error naming the file", err)
	}
}

func TestDefaultTOMLLoadsBackToTheDefaults(t *testing.T) {
	text := DefaultTOML()
	cfg, err := Load([]string{"--config", writeFile(t, text)}, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Fatalf("got %+v, want the defaults %+v", cfg, Default())
	}
	def := Default()
	for key := range fieldsByKey(&def) {
		if docOf(key) == "" {
			t.Errorf("key %s has no description in keyDocs", key)
		}
		if !strings.Contains(text, "\n"+key+" =") && !strings.Contains(text, "["+key+"]") {
			t.Errorf("key %s is not in the default file:\n%s", key, text)
		}
	}
	if len(keyDocs) != len(fieldsByKey(&def)) {
		t.Errorf("keyDocs has %d keys, Config %d", len(keyDocs), len(fieldsByKey(&def)))
	}
}

func TestCheckNamesEveryProblem(t *testing.T) {
	path := writeFile(t, `
socket = "relative.sock"
bogus-key = 1
log-format = "xml"

[registry-mirrors]
"registry.k8s.io" = ["ftp://mirror"]
`)
	problems := Check(path)
	var all []string
	for _, p := range problems {
		all = append(all, p.Error())
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{`unknown key "bogus-key"`, "socket:", "log-format:", "registry.k8s.io"} {
		if !strings.Contains(text, want) {
			t.Errorf("Check does not name %s:\n%s", want, text)
		}
	}
	if len(problems) != 4 {
		t.Errorf("%d problems, want 4:\n%s", len(problems), text)
	}
	if problems := Check(writeFile(t, DefaultTOML())); len(problems) != 0 {
		t.Errorf("the default file has problems: %v", problems)
	}
	if problems := Check(filepath.Join(t.TempDir(), "missing.toml")); len(problems) != 1 {
		t.Errorf("a missing file: %v", problems)
	}
}

// contrib/rktlet.toml is `rktlet config default`, so that it never drifts.
func TestContribConfigIsTheDefault(t *testing.T) {
	b, err := os.ReadFile("../contrib/rktlet.toml")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != DefaultTOML() {
		t.Fatal("contrib/rktlet.toml differs from `rktlet config default`: regenerate it with `_output/bin/rktlet config default > contrib/rktlet.toml`")
	}
}

func TestRegistryHostsAndPrefixedMirrors(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	ca, cert, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	for path, b := range map[string][]byte{ca: certPEM, cert: certPEM, key: keyPEM} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file := writeFile(t, fmt.Sprintf(`
[registry-mirrors]
"docker.io" = ["https://harbor.example/dockerhub-proxy"]

[registry-hosts."harbor.example"]
ca = %q
client-cert = %q
client-key = %q

[registry-hosts."127.0.0.1:5443"]
skip-verify = true
`, ca, cert, key))
	cfg, err := Load([]string{"--config", file, "--registry-host", "other.example:8443=ca=" + ca + ",skip-verify=false"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]RegistryHost{
		"harbor.example":     {CA: ca, ClientCert: cert, ClientKey: key},
		"127.0.0.1:5443":     {SkipVerify: true},
		"other.example:8443": {CA: ca},
	}
	if !reflect.DeepEqual(cfg.RegistryHosts, want) {
		t.Errorf("registry hosts %+v, want %+v", cfg.RegistryHosts, want)
	}
	if got := cfg.RegistryMirrors["docker.io"]; !reflect.DeepEqual(got, []string{"https://harbor.example/dockerhub-proxy"}) {
		t.Errorf("the prefixed mirror came back as %v", got)
	}

	// A key that is no key pair is refused naming the host.
	bad := writeFile(t, fmt.Sprintf("[registry-hosts.\"harbor.example\"]\nclient-cert = %q\nclient-key = %q\n", cert, ca))
	if _, err := Load([]string{"--config", bad}, nil); err == nil || !strings.Contains(err.Error(), `registry-hosts."harbor.example"`) {
		t.Errorf("a client key that is a certificate: %v, want an error naming the host", err)
	}
}

// selfSigned returns a PEM certificate and its PEM key.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
