package sdkauth

// This file implements per-operation scopes: the MCP operation of a POST
// is read from its JSON-RPC body, and its scopes are added to the
// endpoint's for mcpauth's RequestScopes check.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// An Option adds per-operation requirements to [RequireMCPAuth] and
// [NewRequireMCPAuth].
type Option func(*operationScopes)

// ToolScopes requires, for a tools/call of a tool named in m, that tool's
// scopes on top of the endpoint's RequiredScopes. A token that lacks any
// of them gets 403 with WWW-Authenticate: Bearer error="insufficient_scope",
// scope="<endpoint scopes> <tool scopes>", resource_metadata="…", on which
// MCP clients step up (MCP 2025-11-25 §Scope Challenge Handling). Scopes
// are hierarchical as in [mcpauth.Grant.Allows]. Tools not in m need only
// the endpoint's scopes. Several ToolScopes options add up.
func ToolScopes(m map[string][]string) Option {
	return func(o *operationScopes) { o.add(o.tools, m, "ToolScopes") }
}

// MethodScopes is [ToolScopes] for JSON-RPC methods: a request (or
// notification) whose method is in m, e.g. "resources/read", needs the
// method's scopes on top of the endpoint's (and, for tools/call, the tool's).
func MethodScopes(m map[string][]string) Option {
	return func(o *operationScopes) { o.add(o.methods, m, "MethodScopes") }
}

// MaxBodyBytes bounds the request body read to find the operation. A
// larger body is refused with 413 rather than passed on unchecked. The
// default, [mcp.DefaultMaxRequestBodyBytes], is also the SDK's own limit;
// keep the two equal if StreamableHTTPOptions.MaxRequestBodyBytes is set.
func MaxBodyBytes(n int64) Option {
	return func(o *operationScopes) {
		if n <= 0 {
			o.err = errors.Join(o.err, fmt.Errorf("sdkauth: MaxBodyBytes(%d): the limit must be positive", n))
			return
		}
		o.maxBody = n
	}
}

// operationScopes maps MCP operations to the scopes they need.
type operationScopes struct {
	tools   map[string][]string
	methods map[string][]string
	maxBody int64
	err     error
}

func newOperationScopes(options []Option) (*operationScopes, error) {
	o := &operationScopes{tools: map[string][]string{}, methods: map[string][]string{}, maxBody: mcp.DefaultMaxRequestBodyBytes}
	for _, opt := range options {
		opt(o)
	}
	return o, o.err
}

func (o *operationScopes) add(dst, m map[string][]string, option string) {
	for name, scopes := range m {
		if name == "" {
			o.err = errors.Join(o.err, fmt.Errorf("sdkauth: %s: empty name", option))
		}
		for _, s := range scopes {
			if !validScope(s) {
				o.err = errors.Join(o.err, fmt.Errorf("sdkauth: %s[%q]: %q is not a scope token (RFC 6749 §3.3)", option, name, s))
			}
			if !slices.Contains(dst[name], s) {
				dst[name] = append(dst[name], s)
			}
		}
	}
}

// validScope: 1*NQCHAR, NQCHAR = %x21 / %x23-5B / %x5D-7E (RFC 6749 §3.3).
func validScope(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return s != ""
}

func (o *operationScopes) empty() bool { return len(o.tools) == 0 && len(o.methods) == 0 }

// errMalformed is answered with 400. The SDK would refuse such a body too;
// refusing it here means no disagreement between two JSON parsers can let
// an operation past this check.
var errMalformed = errors.New("the request body is not a JSON-RPC message")

// bodyError is a request body that could not be read. Its text becomes the
// client's error_description; the cause (a net/http message) is only logged.
type bodyError struct{ cause error }

func (e *bodyError) Error() string { return "the request body could not be read" }
func (e *bodyError) Unwrap() error { return e.cause }

// requestScopes is mcpauth's RequestScopes: the scopes the operations in a
// POST body need. It reads at most maxBody bytes and puts the body back.
func (o *operationScopes) requestScopes(r *http.Request) ([]string, error) {
	if r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, o.maxBody+1))
	if err != nil {
		return nil, &bodyError{err}
	}
	if int64(len(body)) > o.maxBody {
		return nil, &http.MaxBytesError{Limit: o.maxBody}
	}
	// The server closes the original body; the SDK reads this copy.
	r.Body = io.NopCloser(bytes.NewReader(body))
	methods, tools, err := operations(body)
	if err != nil {
		return nil, errMalformed
	}
	var need []string
	for _, m := range methods {
		need = append(need, o.methods[m]...)
	}
	for _, t := range tools {
		need = append(need, o.tools[t]...)
	}
	return need, nil
}

// operations returns the methods, and the tool names of tools/call
// requests, in the JSON-RPC message or batch (JSON-RPC 2.0 §4, §6) that
// starts body. Like the SDK it reads the first JSON value only. Where the
// SDK's decoder and this one could read a message differently it errs on
// the side of seeing more: object keys match case-insensitively and every
// duplicate counts, so an operation cannot hide behind a spelling the SDK
// would accept. Messages of the wrong shape contribute nothing (the SDK
// refuses them); a syntax error is an error. An empty body has no operations.
func operations(body []byte) (methods, tools []string, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	switch tok {
	case json.Delim('{'):
		return scanMessage(dec, methods, tools)
	case json.Delim('['):
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, nil, err
			}
			if len(raw) == 0 || raw[0] != '{' {
				continue
			}
			d := json.NewDecoder(bytes.NewReader(raw))
			if _, err := d.Token(); err != nil { // '{'
				return nil, nil, err
			}
			if methods, tools, err = scanMessage(d, methods, tools); err != nil {
				return nil, nil, err
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return nil, nil, err
		}
		return methods, tools, nil
	}
	return nil, nil, nil // a scalar: no operation
}

// scanMessage reads the members of a JSON-RPC message whose '{' dec has
// consumed, appending its methods and, if one is tools/call, its tool names.
func scanMessage(dec *json.Decoder, methods, tools []string) ([]string, []string, error) {
	var mine, names []string
	for dec.More() {
		key, err := memberName(dec)
		if err != nil {
			return nil, nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, err
		}
		switch {
		case strings.EqualFold(key, "method"):
			if m, ok := jsonString(raw); ok {
				mine = append(mine, m)
			}
		case strings.EqualFold(key, "params") && len(raw) > 0 && raw[0] == '{':
			if names, err = paramNames(raw, names); err != nil {
				return nil, nil, err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, nil, err
	}
	methods = append(methods, mine...)
	if slices.Contains(mine, "tools/call") {
		tools = append(tools, names...)
	}
	return methods, tools, nil
}

// paramNames appends the string values of the name members of params.
func paramNames(params json.RawMessage, names []string) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(params))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, err
	}
	for dec.More() {
		key, err := memberName(dec)
		if err != nil {
			return nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		if strings.EqualFold(key, "name") {
			if n, ok := jsonString(raw); ok {
				names = append(names, n)
			}
		}
	}
	return names, nil
}

func memberName(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	key, ok := tok.(string)
	if !ok {
		return "", errMalformed
	}
	return key, nil
}

func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}
