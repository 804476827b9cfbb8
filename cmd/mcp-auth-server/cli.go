package main

// This file is the command-line face of the admin API (mcpauth's
// Server.AdminHandler, mounted at <issuer>/admin/):
//
//	mcp-auth-server clients list|create|delete …
//	mcp-auth-server grants list|revoke …
//
// against a running server (-server, default $MCPAUTH_SERVER or
// http://127.0.0.1:8080), authenticated by the operator secret in
// $MCPAUTH_OPERATOR_SECRET (never a flag: command lines are visible to
// every user of the machine). Exit status: 0 done, 2 bad usage or no
// secret, 1 the server refused or could not be reached.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcpauth/mcpauth"
	authstore "github.com/mcpauth/mcpauth/store"
)

// cliTimeout bounds each request of a command.
const cliTimeout = 30 * time.Second

const cliUsage = `usage:
  mcp-auth-server clients list   [-server URL] [-json]
  mcp-auth-server clients create [-server URL] [-json] -redirect-uri URI [-redirect-uri URI]… [-name NAME] [-public] [-scope "a b"] [-no-refresh]
  mcp-auth-server clients delete [-server URL] CLIENT_ID
  mcp-auth-server grants list    [-server URL] [-json] [-subject SUB] [-client CLIENT_ID]
  mcp-auth-server grants revoke  [-server URL] GRANT_ID
The operator secret is read from MCPAUTH_OPERATOR_SECRET; -server defaults to MCPAUTH_SERVER or http://127.0.0.1:8080.`

func isCLICommand(arg string) bool { return arg == "clients" || arg == "grants" }

// adminClient calls the admin API.
type adminClient struct {
	base   string // <issuer>/admin
	secret string
	http   *http.Client
}

// runCLI runs one clients or grants command.
func runCLI(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[1] == "-h" || args[1] == "-help" || args[1] == "--help" {
		fmt.Fprintln(stderr, cliUsage)
		if len(args) < 2 {
			return usagef("%s: which command? (see above)", args[0])
		}
		return flag.ErrHelp
	}
	cmd := args[0] + " " + args[1]
	fs := flag.NewFlagSet("mcp-auth-server "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	defServer := getenv("MCPAUTH_SERVER")
	if defServer == "" {
		defServer = "http://127.0.0.1:8080"
	}
	server := fs.String("server", defServer, "issuer URL of the running server")
	jsonOut := fs.Bool("json", false, "print the API's JSON")
	var redirects listFlag
	fs.Var(&redirects, "redirect-uri", "redirect URI (repeatable)")
	name := fs.String("name", "", "client name")
	public := fs.Bool("public", false, "a public client (no secret)")
	scope := fs.String("scope", "", "space-separated scopes the client may request")
	noRefresh := fs.Bool("no-refresh", false, "no refresh_token grant type")
	subject := fs.String("subject", "", "only the grants of this subject")
	client := fs.String("client", "", "only the grants of this client")

	// Flags may come before and after the positional argument.
	var pos []string
	rest := args[2:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(stderr, cliUsage)
				return err
			}
			return usagef("%s: %v", cmd, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	u, err := url.Parse(*server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("-server %q: want the server's issuer URL, e.g. http://127.0.0.1:8080", *server)
	}
	secret := getenv("MCPAUTH_OPERATOR_SECRET")
	if secret == "" {
		return usagef("%s: set MCPAUTH_OPERATOR_SECRET to the server's -operator-secret", cmd)
	}
	c := &adminClient{base: strings.TrimSuffix(*server, "/") + mcpauth.AdminPath, secret: secret, http: &http.Client{Timeout: cliTimeout}}
	one := func(what string) (string, error) {
		if len(pos) != 1 || pos[0] == "" {
			return "", usagef("%s: give one %s", cmd, what)
		}
		return pos[0], nil
	}
	none := func() error {
		if len(pos) > 0 {
			return usagef("%s: unexpected argument %q", cmd, pos[0])
		}
		return nil
	}

	switch cmd {
	case "clients list":
		if err := none(); err != nil {
			return err
		}
		items, err := c.list(ctx, "/clients", url.Values{}, "clients")
		if err != nil {
			return err
		}
		if *jsonOut {
			return printJSON(stdout, items)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT_ID\tNAME\tAUTH\tDYNAMIC\tLAST_USED\tREDIRECT_URIS")
		for _, raw := range items {
			var cl struct {
				ID       string    `json:"client_id"`
				Name     string    `json:"client_name"`
				Auth     string    `json:"token_endpoint_auth_method"`
				Dynamic  bool      `json:"dynamically_registered"`
				LastUsed time.Time `json:"last_used_at"`
				URIs     []string  `json:"redirect_uris"`
			}
			if err := json.Unmarshal(raw, &cl); err != nil {
				return fmt.Errorf("the server's answer is not a client list: %w", err)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\n", cl.ID, orDash(cl.Name), cl.Auth, cl.Dynamic, day(cl.LastUsed), strings.Join(cl.URIs, " "))
		}
		return tw.Flush()

	case "clients create":
		if err := none(); err != nil {
			return err
		}
		if len(redirects.vals) == 0 {
			return usagef("%s: give at least one -redirect-uri", cmd)
		}
		meta := map[string]any{"redirect_uris": redirects.vals, "grant_types": []string{"authorization_code", "refresh_token"}}
		if *noRefresh {
			meta["grant_types"] = []string{"authorization_code"}
		}
		if *name != "" {
			meta["client_name"] = *name
		}
		if *scope != "" {
			meta["scope"] = *scope
		}
		if *public {
			meta["token_endpoint_auth_method"] = "none"
		}
		body, _ := json.Marshal(meta)
		var out json.RawMessage
		if err := c.do(ctx, http.MethodPost, "/clients", body, http.StatusCreated, &out); err != nil {
			return err
		}
		if *jsonOut {
			return printJSON(stdout, out)
		}
		var cl struct {
			ID     string `json:"client_id"`
			Secret string `json:"client_secret"`
			Auth   string `json:"token_endpoint_auth_method"`
		}
		if err := json.Unmarshal(out, &cl); err != nil {
			return fmt.Errorf("the server's answer is not a client: %w", err)
		}
		fmt.Fprintf(stdout, "client_id:     %s\n", cl.ID)
		fmt.Fprintf(stdout, "auth method:   %s\n", cl.Auth)
		if cl.Secret != "" {
			fmt.Fprintf(stdout, "client_secret: %s\n(shown this once: the server keeps only its digest)\n", cl.Secret)
		}
		return nil

	case "clients delete":
		id, err := one("CLIENT_ID")
		if err != nil {
			return err
		}
		if err := c.do(ctx, http.MethodDelete, "/clients/"+url.PathEscape(id), nil, http.StatusNoContent, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted client %s; its grants are revoked\n", id)
		return nil

	case "grants list":
		if err := none(); err != nil {
			return err
		}
		q := url.Values{}
		if *subject != "" {
			q.Set("subject", *subject)
		}
		if *client != "" {
			q.Set("client_id", *client)
		}
		items, err := c.list(ctx, "/grants", q, "grants")
		if err != nil {
			return err
		}
		if *jsonOut {
			return printJSON(stdout, items)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GRANT_ID\tSUBJECT\tCLIENT_ID\tSCOPES\tCREATED\tEXPIRES\tREVOKED")
		for _, raw := range items {
			var g authstore.GrantRecord
			if err := json.Unmarshal(raw, &g); err != nil {
				return fmt.Errorf("the server's answer is not a grant list: %w", err)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.Subject, g.ClientID, strings.Join(g.Scopes, " "),
				day(g.CreatedAt), day(g.ExpiresAt), day(g.RevokedAt))
		}
		return tw.Flush()

	case "grants revoke":
		id, err := one("GRANT_ID")
		if err != nil {
			return err
		}
		if err := c.do(ctx, http.MethodDelete, "/grants/"+url.PathEscape(id), nil, http.StatusNoContent, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked grant %s; its tokens no longer work\n", id)
		return nil
	}
	fmt.Fprintln(stderr, cliUsage)
	return usagef("unknown command %q", cmd)
}

// list follows next_cursor through every page of an admin list.
func (c *adminClient) list(ctx context.Context, path string, q url.Values, field string) ([]json.RawMessage, error) {
	var all []json.RawMessage
	for {
		var page map[string]json.RawMessage
		if err := c.do(ctx, http.MethodGet, path+"?"+q.Encode(), nil, http.StatusOK, &page); err != nil {
			return nil, err
		}
		var items []json.RawMessage
		if err := json.Unmarshal(page[field], &items); err != nil {
			return nil, fmt.Errorf("the server's answer has no %s list: %w", field, err)
		}
		all = append(all, items...)
		var next string
		if raw, ok := page["next_cursor"]; ok {
			if err := json.Unmarshal(raw, &next); err != nil {
				return nil, fmt.Errorf("the server's next_cursor is not a string: %w", err)
			}
		}
		if next == "" {
			return all, nil
		}
		q.Set("cursor", next)
	}
}

// do sends one request and decodes the answer into out; any status but
// want is an error that says what the server said.
func (c *adminClient) do(ctx context.Context, method, path string, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.secret)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the server's answer: %w", err)
	}
	if resp.StatusCode != want {
		var oe struct {
			Code string `json:"error"`
			Desc string `json:"error_description"`
		}
		msg := fmt.Sprintf("%s %s: the server answered %s", method, c.base+path, resp.Status)
		if json.Unmarshal(data, &oe) == nil && oe.Code != "" {
			msg += ": " + oe.Code
			if oe.Desc != "" {
				msg += ": " + oe.Desc
			}
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			msg += " (is MCPAUTH_OPERATOR_SECRET the server's -operator-secret?)"
		case http.StatusNotFound:
			if oe.Code == "" {
				msg += " (is -server the issuer URL of an mcp-auth-server?)"
			}
		}
		return errors.New(msg)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not JSON: %w", method, c.base+path, err)
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// day formats a time for the tables; "-" when unset.
func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
