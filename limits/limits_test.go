package limits

import (
	"testing"
	"time"
)

func TestParseRateLimits(t *testing.T) {
	def := DefaultRateLimits()
	tests := []struct {
		spec     string
		disabled bool
		want     map[string]Rate // entries that must be present
		err      bool
	}{
		{"", false, def.Limits, false},
		{"default", false, def.Limits, false},
		{"  default ", false, def.Limits, false},
		{"off", true, nil, false},
		{"token=60/m", false, map[string]Rate{"token": {60, time.Minute}, "authorize": {10, time.Minute}}, false},
		{"token=60/m,default=200/m", false, map[string]Rate{"token": {60, time.Minute}, "default": {200, time.Minute}}, false},
		{"token=5/s, revoke=100/h", false, map[string]Rate{"token": {5, time.Second}, "revoke": {100, time.Hour}}, false},
		{"register=3/10m", false, map[string]Rate{"register": {3, 10 * time.Minute}}, false},
		{"introspect=0/m", false, map[string]Rate{"introspect": {0, time.Minute}}, false},
		{"authorize=7/minute,token=1/second,revoke=2/hour", false, map[string]Rate{"authorize": {7, time.Minute}, "token": {1, time.Second}, "revoke": {2, time.Hour}}, false},
		{"token", false, nil, true},
		{"token=", false, nil, true},
		{"token=60", false, nil, true},
		{"token=x/m", false, nil, true},
		{"token=-1/m", false, nil, true},
		{"token=5/fortnight", false, nil, true},
		{"token=5/-1m", false, nil, true},
		{"token=5/0s", false, nil, true},
		{"login=5/m", false, map[string]Rate{"login": {5, time.Minute}, "token": {20, time.Minute}}, false},
		{"consent=5/m", false, nil, true},
		{"=5/m", false, nil, true},
		{"token=5/m,,", false, nil, true},
		{"on", false, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseRateLimits(tt.spec)
			if (err != nil) != tt.err {
				t.Fatalf("got error %v, want error=%v", err, tt.err)
			}
			if err != nil {
				return
			}
			if got.Disabled != tt.disabled {
				t.Errorf("Disabled %v, want %v", got.Disabled, tt.disabled)
			}
			for k, v := range tt.want {
				if got.Limits[k] != v {
					t.Errorf("%s: got %v, want %v", k, got.Limits[k], v)
				}
			}
		})
	}
}

func TestRateLimitsFor(t *testing.T) {
	l := &RateLimits{Limits: map[string]Rate{"token": {5, time.Minute}, "default": {9, time.Minute}, "revoke": {0, time.Minute}}}
	tests := []struct {
		endpoint string
		want     Rate
		ok       bool
	}{
		{"token", Rate{5, time.Minute}, true},
		{"introspect", Rate{9, time.Minute}, true},
		{"revoke", Rate{0, time.Minute}, false},
	}
	for _, tt := range tests {
		if got, ok := l.For(tt.endpoint); got != tt.want || ok != tt.ok {
			t.Errorf("For(%q) = (%v, %v), want (%v, %v)", tt.endpoint, got, ok, tt.want, tt.ok)
		}
	}
	var nilLimits *RateLimits
	if _, ok := nilLimits.For("token"); ok {
		t.Errorf("nil RateLimits limits")
	}
}
