package migrate

import (
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0010_later.sql": {Data: []byte("B")},
		"m/0002_first.sql": {Data: []byte("A")},
		"m/README.md":      {Data: []byte("not a migration")},
	}
	ms, err := Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0] != (Migration{2, "first", "A"}) || ms[1] != (Migration{10, "later", "B"}) {
		t.Errorf("Load = %+v", ms)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
	}{
		{"NoNumber", fstest.MapFS{"m/init.sql": {}}},
		{"NoName", fstest.MapFS{"m/0001.sql": {}}},
		{"Zero", fstest.MapFS{"m/0000_x.sql": {}}},
		{"Duplicate", fstest.MapFS{"m/0001_a.sql": {}, "m/1_b.sql": {}}},
		{"MissingDir", fstest.MapFS{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ms, err := Load(tt.fsys, "m"); err == nil {
				t.Errorf("Load = %+v, want an error", ms)
			}
		})
	}
}
