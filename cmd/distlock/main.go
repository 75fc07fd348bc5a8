package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	goredis "github.com/redis/go-redis/v9"

	_ "github.com/distlock/lock/memcached" // registers memcached://
	_ "github.com/distlock/lock/postgres"  // registers postgres:// and postgresql://
	_ "github.com/distlock/lock/redis"     // registers redis:// and rediss://
)

func main() {
	// go-redis logs its failed dials on stderr; distlock reports errors
	// itself, in one line.
	goredis.SetLogger(silent{})
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	p := &process{
		stdin:   os.Stdin,
		stdout:  os.Stdout,
		stderr:  os.Stderr,
		environ: os.Environ(),
		signals: signals,
	}
	os.Exit(p.run(os.Args[1:]))
}

// silent is a go-redis logger that prints nothing.
type silent struct{}

func (silent) Printf(context.Context, string, ...any) {}
