package main

import (
	"errors"
	"io"
	"testing"
)

func TestMaxDelegationDepthFlag(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want int // -2: a usage error
	}{
		{nil, nil, 3},
		{[]string{"-max-delegation-depth", "10"}, nil, 10},
		{nil, map[string]string{"MCPAUTH_MAX_DELEGATION_DEPTH": "1"}, 1},
		{[]string{"-max-delegation-depth", "0"}, nil, -1},
		{[]string{"-max-delegation-depth", "11"}, nil, -2},
		{[]string{"-max-delegation-depth", "-1"}, nil, -2},
	}
	for _, tc := range tests {
		o, err := parseFlags(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		var ue *usageError
		switch {
		case tc.want == -2 && !errors.As(err, &ue):
			t.Errorf("%v %v: err %v, want a usage error", tc.args, tc.env, err)
		case tc.want != -2 && err != nil:
			t.Errorf("%v %v: %v", tc.args, tc.env, err)
		case tc.want != -2 && o.maxDelegationDepth != tc.want:
			t.Errorf("%v %v: maxDelegationDepth %d, want %d", tc.args, tc.env, o.maxDelegationDepth, tc.want)
		}
	}
}
