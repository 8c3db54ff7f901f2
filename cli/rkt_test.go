package cli

import "testing"

func TestParseVersion(t *testing.T) {
	out := []byte("rkt Version: 1.30.0\nappc Version: 0.8.11\nGo Version: go1.26.8\nGo OS/Arch: linux/amd64\nFeatures: -TPM +SDJOURNAL\n")
	v, err := ParseVersion(out)
	if err != nil {
		t.Fatal(err)
	}
	if v.Rkt != "1.30.0" || v.Appc != "0.8.11" || v.Go != "go1.26.8" || len(v.Features) != 2 {
		t.Fatalf("parsed %+v", v)
	}
	if _, err := ParseVersion([]byte("rkt: command not found\n")); err == nil {
		t.Fatal("want an error for output without a version")
	}
}
