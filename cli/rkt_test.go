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

// Two streams share one output budget; what is past it is dropped without
// failing the writer, so the command runs on.
func TestCappedBuffersShareBudget(t *testing.T) {
	budget := &outputBudget{left: 10}
	out, errOut := &cappedBuffer{budget: budget}, &cappedBuffer{budget: budget}
	for _, w := range []struct {
		b *cappedBuffer
		s string
	}{{out, "abcdef"}, {errOut, "12345"}, {out, "gh"}} {
		if n, err := w.b.Write([]byte(w.s)); n != len(w.s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w.s, n, err)
		}
	}
	if out.String() != "abcdef" || errOut.String() != "1234" {
		t.Fatalf("kept %q and %q", out.String(), errOut.String())
	}
}
