package sdkauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

func TestOperations(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		methods []string
		tools   []string
		wantErr bool
	}{
		{"tools/call", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1}}}`, []string{"tools/call"}, []string{"add"}, false},
		{"params first", `{"params":{"arguments":{"name":"x"},"name":"add"},"method":"tools/call","id":1,"jsonrpc":"2.0"}`, []string{"tools/call"}, []string{"add"}, false},
		{"other method keeps no names", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"add"}}`, []string{"prompts/get"}, nil, false},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, []string{"notifications/initialized"}, nil, false},
		{"response", `{"jsonrpc":"2.0","id":1,"result":{}}`, nil, nil, false},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add"}},7,[]]`, []string{"ping", "tools/call"}, []string{"add"}, false},
		{"batch names stay with their message", `[{"method":"tools/call","params":{"name":"a"}},{"method":"prompts/get","params":{"name":"b"}}]`, []string{"tools/call", "prompts/get"}, []string{"a"}, false},
		{"duplicate method: both count", `{"method":"ping","method":"tools/call","params":{"name":"add"}}`, []string{"ping", "tools/call"}, []string{"add"}, false},
		{"duplicate name: both count", `{"method":"tools/call","params":{"name":"add","name":"echo"}}`, []string{"tools/call"}, []string{"add", "echo"}, false},
		{"case variants count", `{"METHOD":"tools/call","Params":{"NAME":"add","name":"echo"}}`, []string{"tools/call"}, []string{"add", "echo"}, false},
		{"escaped key", `{"m\u0065thod":"tools/call","params":{"n\u0061me":"add"}}`, []string{"tools/call"}, []string{"add"}, false},
		{"trailing data ignored, as by the SDK", `{"method":"tools/call","params":{"name":"add"}} {"method":"x"} garbage`, []string{"tools/call"}, []string{"add"}, false},
		{"method not a string", `{"method":7,"params":{"name":"add"}}`, nil, nil, false},
		{"name not a string", `{"method":"tools/call","params":{"name":["add"]}}`, []string{"tools/call"}, nil, false},
		{"params not an object", `{"method":"tools/call","params":["add"]}`, []string{"tools/call"}, nil, false},
		{"scalar", `"tools/call"`, nil, nil, false},
		{"empty", ``, nil, nil, false},
		{"whitespace", " \n", nil, nil, false},
		{"truncated", `{"method":"tools/call","params":{"name":"add"}`, nil, nil, true},
		{"syntax error after the method", `{"method":"tools/call","params":{"name":"add"},"x":01}`, nil, nil, true},
		{"trailing comma", `{"method":"tools/call","params":{"name":"add",}}`, nil, nil, true},
		{"bad batch element", `[{"method":"tools/call"},{"method":}]`, nil, nil, true},
		{"not json", `method=tools/call`, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			methods, tools, err := operations([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !slices.Equal(methods, tt.methods) || !slices.Equal(tools, tt.tools) {
				t.Errorf("got methods %q tools %q, want %q %q", methods, tools, tt.methods, tt.tools)
			}
		})
	}
}

func TestRequestScopes(t *testing.T) {
	ops, err := newOperationScopes([]Option{
		ToolScopes(map[string][]string{"add": {"tools:execute"}, "rm": {"tools:execute", "files:write"}}),
		MethodScopes(map[string][]string{"resources/read": {"files:read"}, "tools/call": {"tools:call"}}),
		MaxBodyBytes(256),
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, body string
		want         []string
		wantErr      string // "", "malformed" or "too big"
	}{
		{"POST", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add"}}`, []string{"tools:call", "tools:execute"}, ""},
		{"POST", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`, []string{"tools:call"}, ""},
		{"POST", `[{"method":"tools/call","params":{"name":"add"}},{"method":"tools/call","params":{"name":"rm"}},{"method":"resources/read"}]`,
			[]string{"tools:call", "tools:call", "files:read", "tools:execute", "tools:execute", "files:write"}, ""},
		{"POST", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil, ""},
		{"GET", ``, nil, ""},
		{"DELETE", ``, nil, ""},
		{"POST", `{"method":"tools/call","params":{"name":"add"`, nil, "malformed"},
		{"POST", `{"method":"tools/call","params":{"name":"add","arguments":{"pad":"` + strings.Repeat("x", 256) + `"}}}`, nil, "too big"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/mcp", strings.NewReader(tt.body))
		got, err := ops.requestScopes(r)
		var tooBig *http.MaxBytesError
		kind := ""
		switch {
		case errors.Is(err, errMalformed):
			kind = "malformed"
		case errors.As(err, &tooBig) && tooBig.Limit == 256:
			kind = "too big"
		case err != nil:
			kind = err.Error()
		}
		if kind != tt.wantErr || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s %.40s: got (%q, %s), want (%q, %s)", tt.method, tt.body, got, kind, tt.want, tt.wantErr)
			continue
		}
		if err == nil && tt.method == "POST" {
			// The SDK gets the body intact.
			if b, err := io.ReadAll(r.Body); err != nil || string(b) != tt.body {
				t.Errorf("%s: body after = %q, %v", tt.body, b, err)
			}
		}
	}
}

func TestNewOperationScopesErrors(t *testing.T) {
	for name, opts := range map[string][]Option{
		"empty tool name":     {ToolScopes(map[string][]string{"": {"a"}})},
		"scope with a space":  {ToolScopes(map[string][]string{"add": {"tools execute"}})},
		"empty scope":         {MethodScopes(map[string][]string{"tools/call": {""}})},
		"quote in scope":      {MethodScopes(map[string][]string{"tools/call": {`a"b`}})},
		"zero body limit":     {MaxBodyBytes(0)},
		"negative body limit": {MaxBodyBytes(-1)},
	} {
		if _, err := newOperationScopes(opts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzOperations checks operations against the SDK's own JSON-RPC decoder:
// whatever method the SDK would dispatch, and for tools/call whatever tool
// name it would read, operations must report (or refuse the body).
func FuzzOperations(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{}}}`,
		`{"jsonrpc":"2.0","id":1,"METHOD":"ping","method":"tools/call","params":{"NAME":"echo","name":"add"}}`,
		`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"add"}} trailing`,
		`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add"}}]`,
		`{"jsonrpc":"2.0","id":1,"result":{}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		methods, tools, err := operations([]byte(body))
		if err != nil {
			return // refused with 400: nothing reaches the SDK
		}
		msg, derr := jsonrpc.DecodeMessage([]byte(body))
		req, ok := msg.(*jsonrpc.Request)
		if derr != nil || !ok {
			return
		}
		if !slices.Contains(methods, req.Method) {
			t.Fatalf("the SDK reads method %q, operations saw %q", req.Method, methods)
		}
		if req.Method != "tools/call" {
			return
		}
		var params map[string]json.RawMessage // exact keys, last duplicate wins, as the SDK reads them
		if json.Unmarshal(req.Params, &params) != nil {
			return
		}
		var name string
		if json.Unmarshal(params["name"], &name) == nil && !slices.Contains(tools, name) {
			t.Fatalf("the SDK calls tool %q, operations saw %q", name, tools)
		}
	})
}
