package main

import (
	"context"
	"errors"
)

func standalone(ctx context.Context, c config) error { return errors.New("not yet") }
