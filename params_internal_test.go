package mcpauth

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadBody: the declared length is only a size hint; what the reader
// gives is what is returned, whether it is shorter, longer or unknown.
func TestReadBody(t *testing.T) {
	body := strings.Repeat("a=b&", 100)
	boom := errors.New("boom")
	tests := []struct {
		name     string
		r        io.Reader
		declared int64
		want     string
		err      error
	}{
		{"exact", strings.NewReader(body), int64(len(body)), body, nil},
		{"unknown length", strings.NewReader(body), -1, body, nil},
		{"declared longer", strings.NewReader(body), int64(len(body) + 50), body, nil},
		{"declared shorter", strings.NewReader(body), 10, body, nil},
		{"one byte at a time", iotest.OneByteReader(strings.NewReader(body)), int64(len(body)), body, nil},
		{"over the limit: no presizing", strings.NewReader(body), maxFormBody + 1, body, nil},
		{"empty", strings.NewReader(""), 0, "", nil},
		{"error", io.MultiReader(strings.NewReader("a=b"), iotest.ErrReader(boom)), 10, "a=b", boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readBody(tt.r, tt.declared)
			if !errors.Is(err, tt.err) || !bytes.Equal(got, []byte(tt.want)) {
				t.Fatalf("readBody = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}
