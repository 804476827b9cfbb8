package main

import (
	"errors"
	"fmt"
	"strings"

	authstore "github.com/mcpauth/mcpauth/store"
)

// clientFlag is the repeatable -client ID:SECRET:SCOPES: a machine client
// for the client_credentials grant (OAuth 2.1 §4.2). The value is split at
// its first two colons, so scopes may contain colons; SCOPES is comma
// separated. MCPAUTH_CLIENT may hold several, separated by spaces.
type clientFlag struct{ clients []authstore.Client }

func (c *clientFlag) String() string {
	ids := make([]string, len(c.clients))
	for i, cl := range c.clients {
		ids[i] = cl.ID
	}
	return strings.Join(ids, " ")
}

func (c *clientFlag) Set(v string) error {
	for _, one := range strings.Fields(v) {
		cl, err := parseMachineClient(one)
		if err != nil {
			return err
		}
		for _, have := range c.clients {
			if have.ID == cl.ID {
				return fmt.Errorf("client %q given twice", cl.ID)
			}
		}
		c.clients = append(c.clients, cl)
	}
	if strings.TrimSpace(v) == "" {
		return errors.New("want ID:SECRET:SCOPES")
	}
	return nil
}

func parseMachineClient(v string) (authstore.Client, error) {
	id, rest, ok1 := strings.Cut(v, ":")
	secret, scopes, ok2 := strings.Cut(rest, ":")
	switch {
	case !ok1 || !ok2 || id == "" || secret == "":
		return authstore.Client{}, errors.New("want ID:SECRET:SCOPES (SCOPES comma separated)")
	case len(secret) < 16:
		return authstore.Client{}, fmt.Errorf("client %q: the secret needs at least 16 characters", id)
	}
	var list []string
	for _, s := range strings.Split(scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			list = append(list, s)
		}
	}
	if len(list) == 0 {
		return authstore.Client{}, fmt.Errorf("client %q: name at least one scope", id)
	}
	return authstore.Client{
		ID:             id,
		ClientSecret:   secret,
		ClientMetadata: authstore.ClientMetadata{Name: id, GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "client_secret_basic", Scope: strings.Join(list, " ")},
	}, nil
}
