package etcd_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

// TestMain runs the tests against an in-process etcd (started on first
// use) unless LOCK_TEST_ETCD_URL names a cluster, stops it, and fails the
// package if any goroutine of a Lock or client outlives the tests.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	stopEmbedded()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreCurrent()); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var embedded struct {
	once sync.Once
	e    *embed.Etcd
	url  string
	err  error
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startEmbedded starts a one-member etcd in the process, with a short
// election (so a lease can be as short as a second), and returns its URL.
func startEmbedded() (string, error) {
	embedded.once.Do(func() {
		dir, err := os.MkdirTemp("", "distlock-etcd-")
		if err != nil {
			embedded.err = err
			return
		}
		cp, err1 := freePort()
		pp, err2 := freePort()
		if err1 != nil || err2 != nil {
			embedded.err = fmt.Errorf("free ports: %v %v", err1, err2)
			return
		}
		cfg := embed.NewConfig()
		cfg.Dir = dir
		cfg.Name = "distlock-test"
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		cu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", cp))
		pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", pp))
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
		cfg.InitialCluster = cfg.Name + "=" + pu.String()
		cfg.TickMs, cfg.ElectionMs = 10, 100
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			os.RemoveAll(dir)
			embedded.err = err
			return
		}
		select {
		case <-e.Server.ReadyNotify():
		case <-time.After(30 * time.Second):
			e.Close()
			os.RemoveAll(dir)
			embedded.err = fmt.Errorf("the in-process etcd did not start within 30s")
			return
		}
		embedded.e, embedded.url = e, "etcd://"+cu.Host
	})
	return embedded.url, embedded.err
}

func stopEmbedded() {
	if embedded.e != nil {
		dir := embedded.e.Config().Dir
		embedded.e.Close()
		os.RemoveAll(dir)
	}
}

// testURL returns LOCK_TEST_ETCD_URL, or the URL of the in-process etcd.
func testURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("LOCK_TEST_ETCD_URL"); u != "" {
		return u
	}
	u, err := startEmbedded()
	if err != nil {
		t.Fatalf("in-process etcd: %v", err)
	}
	return u
}

// testClient returns a client of the cluster of testURL, closed when the
// test ends. A cluster that is configured but does not answer fails the
// test.
func testClient(t testing.TB) *clientv3.Client {
	t.Helper()
	u, err := url.Parse(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	eps := strings.Split(u.Host, ",")
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Get(ctx, "probe"); err != nil {
		t.Fatalf("etcd at %v does not answer: %v", eps, err)
	}
	return c
}
