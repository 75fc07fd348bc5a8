package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/distlock/lock/locktest/faultproxy"
)

// flapper runs a fault proxy in front of the store and flaps it between
// passing traffic and faults, until stopped.
type flapper struct {
	p    *faultproxy.Proxy
	url  string // the store's URL, through the proxy
	quit chan struct{}
	done chan struct{}

	mu      sync.Mutex
	counts  map[string]int
	faulted time.Duration
	err     error // of bringing the proxy back up
}

// defaultPorts are the ports of URLs that name none.
var defaultPorts = map[string]string{"memcached": "11211", "redis": "6379", "rediss": "6379"}

func startFlapper(u *url.URL) (*flapper, error) {
	q := u.Query()
	if strings.Contains(u.Host, ",") || q.Has("addr") || q.Get("cluster") == "true" {
		return nil, errors.New("-faults needs a URL that names one server: the proxy stands in front of it")
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), defaultPorts[u.Scheme])
	}
	p, err := faultproxy.Start(host)
	if err != nil {
		return nil, err
	}
	through := *u
	through.Host = p.Addr()
	f := &flapper{p: p, url: through.String(), quit: make(chan struct{}), done: make(chan struct{}), counts: map[string]int{}}
	go f.run()
	return f, nil
}

// run alternates passing (100 to 400ms) and a fault (20 to 600ms), each
// drawn at random: latency of 1 to 600ms (under and over the clients'
// timeouts), reset connections, replies cut after 0 to 7 bytes, a black
// hole, or the store down.
func (f *flapper) run() {
	defer close(f.done)
	between := func(lo, hi time.Duration) time.Duration { return lo + rand.N(hi-lo) }
	for {
		f.p.Pass()
		if !f.sleep(between(100*time.Millisecond, 400*time.Millisecond)) {
			return
		}
		var name string
		down := false
		switch n := rand.IntN(100); {
		case n < 35:
			name = "latency"
			f.p.Latency(between(time.Millisecond, 600*time.Millisecond))
		case n < 55:
			name = "reset"
			f.p.Reset()
		case n < 70:
			name = "cut reply"
			f.p.CutReply(rand.IntN(8))
		case n < 85:
			name = "black hole"
			f.p.BlackHole()
		default:
			name, down = "down", true
			f.p.Down()
		}
		d := between(20*time.Millisecond, 600*time.Millisecond)
		f.mu.Lock()
		f.counts[name]++
		f.faulted += d
		f.mu.Unlock()
		ok := f.sleep(d)
		if down {
			if err := f.p.Up(); err != nil {
				f.mu.Lock()
				f.err = err
				f.mu.Unlock()
				return
			}
		}
		if !ok {
			return
		}
	}
}

// sleep pauses for d, and reports false if the flapper is stopped.
func (f *flapper) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-f.quit:
		return false
	}
}

// stop ends the flapping, closes the proxy and returns a summary.
func (f *flapper) stop() string {
	close(f.quit)
	<-f.done
	st := f.p.Stats()
	f.p.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	total := 0
	for _, name := range []string{"latency", "reset", "cut reply", "black hole", "down"} {
		fmt.Fprintf(&b, "%s %d, ", name, f.counts[name])
		total += f.counts[name]
	}
	fmt.Fprintf(&b, "%d in all, %v faulted; proxy: %d connections, %d reset, %d cut",
		total, f.faulted.Round(time.Second), st.Accepted, st.Resets, st.Cuts)
	if f.err != nil {
		fmt.Fprintf(&b, "; stopped early: %v", f.err)
	}
	return b.String()
}
