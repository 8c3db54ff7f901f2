package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEConfigurationTable: the README's configuration reference names
// every key, and each default it gives is the real one.
func TestREADMEConfigurationTable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("^\\| (`[a-z0-9-]+`(?:, `[a-z0-9-]+`)*) \\| ([^|]*) \\|")
	keyName := regexp.MustCompile("`([a-z0-9-]+)`")
	documented := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, k := range keyName.FindAllStringSubmatch(m[1], -1) {
			documented[k[1]] = strings.TrimSpace(m[2])
		}
	}
	def := Default()
	for key, v := range fieldsByKey(&def) {
		got, ok := documented[key]
		if !ok {
			t.Errorf("README's configuration table lacks %s", key)
			continue
		}
		want := readmeDefault(v)
		if got != want && !(want == "none" && got == "(none)") {
			t.Errorf("README gives %s the default %s; it is %s", key, got, want)
		}
	}
	for key := range documented {
		if _, ok := fieldsByKey(&def)[key]; !ok {
			t.Errorf("README's configuration table has %s, which is no key", key)
		}
	}
}

// readmeDefault writes a default as the README's table does.
func readmeDefault(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		if v.String() == "" {
			return "none"
		}
		return "`" + v.String() + "`"
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = v.Index(i).String()
		}
		return "`" + strings.Join(parts, ",") + "`"
	case reflect.Map:
		if v.Len() == 0 {
			return "none"
		}
	}
	return fmt.Sprintf("`%v`", v.Interface())
}
