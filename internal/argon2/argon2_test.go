package argon2

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"

	xargon2 "golang.org/x/crypto/argon2"
)

// TestSameAsXCrypto: every parameter shape gives x/crypto's key, also when
// the working memory is a reused (dirty) buffer from the pool.
func TestSameAsXCrypto(t *testing.T) {
	tests := []struct {
		time, memory uint32
		threads      uint8
		keyLen       uint32
	}{
		{1, 8, 1, 32},
		{2, 64, 1, 32},
		{3, 64, 2, 16},
		{1, 100, 3, 64},  // memory rounded down to a multiple of 4×threads
		{2, 256, 4, 100}, // a key longer than one BLAKE2b output
		{1, 4, 2, 32},    // memory raised to the minimum 8×threads
		{2, 19 * 1024, 1, 32},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("t=%d,m=%d,p=%d,len=%d", tt.time, tt.memory, tt.threads, tt.keyLen)
		for i, pw := range []string{"correct horse", "battery staple", "", "correct horse"} {
			salt := []byte(fmt.Sprintf("salt-%d-%s", i%2, name))
			got := IDKey([]byte(pw), salt, tt.time, tt.memory, tt.threads, tt.keyLen)
			want := xargon2.IDKey([]byte(pw), salt, tt.time, tt.memory, tt.threads, tt.keyLen)
			if !bytes.Equal(got, want) {
				t.Errorf("%s, password %q (call %d): got %x, want %x", name, pw, i, got, want)
			}
		}
	}
}

// TestReusesMemory: after a check, the next one of the same size takes its
// working memory from the pool; x/crypto allocates all of it every time.
func TestReusesMemory(t *testing.T) {
	if raceDetector {
		t.Skip("under -race sync.Pool drops a random quarter of Puts")
	}
	const m = 1024                                   // KiB
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // a collection would empty the pool
	IDKey([]byte("warm"), []byte("saltsaltsaltsalt"), 1, m, 1, 32)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		IDKey([]byte("pw"), []byte("saltsaltsaltsalt"), 1, m, 1, 32)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > m*1024 {
		t.Errorf("10 calls allocated %d bytes, want less than one working memory (%d)", got, m*1024)
	}
}

func BenchmarkIDKey(b *testing.B) {
	for _, impl := range []struct {
		name string
		f    func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte
	}{{"pooled", IDKey}, {"x-crypto", xargon2.IDKey}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				impl.f([]byte("pw"), []byte("saltsaltsaltsalt"), 2, 19*1024, 1, 32)
			}
		})
	}
}
