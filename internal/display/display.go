// Package display decides how untrusted text (client metadata, host names)
// may be shown on the sign-in, consent and error pages: no control or
// bidirectional formatting characters (which can reorder or hide what the
// user reads), and host names in ASCII (punycode, RFC 3492) with a warning
// when a label mixes scripts, the mark of a homograph such as "аpple.com"
// with a Cyrillic "а" (Unicode TR 39 §5.1, IDNA 2008 RFC 5890).
package display

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Safe reports whether s is valid UTF-8 free of control characters (Cc,
// including NUL and C1), format characters (Cf: the bidi overrides and
// isolates U+202A–U+202E and U+2066–U+2069, zero-width characters, the soft
// hyphen, U+FEFF), line and paragraph separators and noncharacters.
func Safe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r):
			return false
		case r >= 0xFDD0 && r <= 0xFDEF, r&0xFFFE == 0xFFFE, r == utf8.RuneError:
			return false
		}
	}
	return true
}

// Host is a host name prepared for display.
type Host struct {
	// ASCII is the host with every non-ASCII label in punycode ("xn--…"),
	// lower-cased: what the page shows.
	ASCII string
	// Unicode is the host as given when it differs from ASCII.
	Unicode string
	// MixedScripts is set when a label mixes writing systems (Latin with
	// Cyrillic, say), the mark of a lookalike of another host.
	MixedScripts bool
}

// PrepareHost converts host (a host name, IP literal or host:port) for
// display. Labels that cannot be encoded are shown as "?" and flagged.
func PrepareHost(host string) Host {
	h := Host{}
	labels := strings.Split(host, ".")
	out := make([]string, len(labels))
	for i, l := range labels {
		if isASCII(l) {
			if !Safe(l) {
				out[i], h.MixedScripts = "?", true
				continue
			}
			out[i] = strings.ToLower(l)
			continue
		}
		lower := strings.ToLower(l)
		// The Punycode profile encodes without IDNA mapping: the label is
		// shown as its owner registered it, lookalikes included.
		enc, err := idna.Punycode.ToASCII(lower)
		if err != nil || !Safe(l) {
			out[i], h.MixedScripts = "?", true
			continue
		}
		out[i] = enc
		if mixedScripts(lower) {
			h.MixedScripts = true
		}
	}
	h.ASCII = strings.Join(out, ".")
	if h.ASCII != strings.ToLower(host) {
		h.Unicode = host
	}
	return h
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// scriptGroups lists the scripts a label is tested against. Han, Hiragana,
// Katakana, Hangul and Bopomofo form one group (Japanese, Korean and Chinese
// mix them), which may also mix with Latin, as browsers' IDN display
// policies allow.
var scriptGroups = []struct {
	name   string
	tables []*unicode.RangeTable
}{
	{"Latin", []*unicode.RangeTable{unicode.Latin}},
	{"CJK", []*unicode.RangeTable{unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul, unicode.Bopomofo}},
	{"Cyrillic", []*unicode.RangeTable{unicode.Cyrillic}},
	{"Greek", []*unicode.RangeTable{unicode.Greek}},
	{"Armenian", []*unicode.RangeTable{unicode.Armenian}},
	{"Hebrew", []*unicode.RangeTable{unicode.Hebrew}},
	{"Arabic", []*unicode.RangeTable{unicode.Arabic}},
	{"Cherokee", []*unicode.RangeTable{unicode.Cherokee}},
	{"Georgian", []*unicode.RangeTable{unicode.Georgian}},
	{"Devanagari", []*unicode.RangeTable{unicode.Devanagari}},
	{"Thai", []*unicode.RangeTable{unicode.Thai}},
}

// mixedScripts reports whether the letters of one label come from more than
// one script group (digits, hyphens and other common characters are
// neutral; a letter of a script not listed counts as its own group).
func mixedScripts(label string) bool {
	seen := map[string]bool{}
	for _, r := range label {
		if !unicode.IsLetter(r) {
			continue
		}
		group := "other"
		for _, g := range scriptGroups {
			if unicode.In(r, g.tables...) {
				group = g.name
				break
			}
		}
		if group == "other" {
			for name, t := range unicode.Scripts {
				if unicode.Is(t, r) {
					group = name
					break
				}
			}
		}
		seen[group] = true
	}
	if seen["Latin"] && seen["CJK"] && len(seen) == 2 {
		return false
	}
	return len(seen) > 1
}
