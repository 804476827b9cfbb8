package display

import (
	"strings"
	"testing"
)

func TestPrepareHost(t *testing.T) {
	tests := []struct {
		in, ascii string
		mixed     bool
	}{
		{"apple.com", "apple.com", false},
		{"App.Example.COM", "app.example.com", false},
		{"\u0430pple.com", "xn--pple-43d.com", true}, // Cyrillic а + Latin
		{"b\u00fccher.example", "xn--bcher-kva.example", false},
		{"m\u00fcnchen.de", "xn--mnchen-3ya.de", false},
		{"\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "xn--e1afmkfd.xn--p1ai", false}, // пример.рф
		{"\u4f8b\u3048.jp", "xn--r8jz45g.jp", false},                                          // 例え: Han + Hiragana
		{"p\u0430ypal.com:8443", "xn--pypal-4ve.com:8443", true},
		{"127.0.0.1:5555", "127.0.0.1:5555", false},
		{"a\u202egoogle.com", "?.com", true}, // bidi override
	}
	for _, tt := range tests {
		h := PrepareHost(tt.in)
		if h.ASCII != tt.ascii || h.MixedScripts != tt.mixed {
			t.Errorf("PrepareHost(%q) = (%q, mixed %v), want (%q, %v)", tt.in, h.ASCII, h.MixedScripts, tt.ascii, tt.mixed)
		}
	}
}

func TestSafe(t *testing.T) {
	for s, want := range map[string]bool{
		"My App":              true,
		"Éditeur 日本 🙂":        true,
		"evil\u202Egnp.exe":   false, // RIGHT-TO-LEFT OVERRIDE
		"a\u2066b":            false, // LEFT-TO-RIGHT ISOLATE
		"zero\u200Bwidth":     false,
		"nul\x00":             false,
		"tab\t":               false,
		"c1\u0085":            false,
		"line\u2028sep":       false,
		"bad \xff utf8":       false,
		"bom\uFEFF":           false,
		"nonchar\uFFFE":       false,
		"replacement \uFFFD?": false,
	} {
		if got := Safe(s); got != want {
			t.Errorf("Safe(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzPrepareHost: whatever the host, the shown form is printable ASCII and
// equals the input (lower-cased) when the input is printable ASCII.
func FuzzPrepareHost(f *testing.F) {
	for _, s := range []string{"apple.com", "\u0430pple.com", "\u4f8b\u3048.jp", "a\u202eb.c", "\xff.x", "", "..", "127.0.0.1:80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		h := PrepareHost(host)
		for i := 0; i < len(h.ASCII); i++ {
			if c := h.ASCII[i]; c < ' ' || c >= 0x7f {
				t.Fatalf("PrepareHost(%q).ASCII = %q is not printable ASCII", host, h.ASCII)
			}
		}
		if isASCII(host) && Safe(host) && h.ASCII != strings.ToLower(host) {
			t.Fatalf("PrepareHost(%q) = %q changed a printable ASCII host", host, h.ASCII)
		}
	})
}
