package urlparam_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/memory"
	"github.com/distlock/lock/urlparam"
)

// A backend registers its URL scheme in init, with an Opener that reads
// the URL's parameters with a Query: the ones every backend shares
// (Common), then its own. Every bad or unknown parameter comes back from
// Err at once, and the Opener wraps it with Invalid, so that Open's error
// matches lock.ErrInvalidURL. Here the backend's store is the memory
// backend's; a networked backend would dial its server instead, and fail,
// without ErrInvalidURL, on one it cannot reach.
func init() { lock.Register("examplestore", openExampleStore) }

// openExampleStore opens examplestore://[?parameters]: the shared
// parameters, and the backend's own sweep_interval.
func openExampleStore(_ context.Context, u *url.URL) (lock.Lock, error) {
	if u.Host != "" || u.User != nil || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("examplestore: %w", urlparam.Invalid(errors.New("want examplestore://[?parameters]")))
	}
	v, err := urlparam.Values(u)
	if err != nil {
		return nil, fmt.Errorf("examplestore: %w", urlparam.Invalid(err))
	}
	var opts memory.Options
	q := urlparam.New(v)
	q.Common(&opts.Prefix, &opts.Options) // prefix, retry_interval, max_ttl, close_timeout
	q.Duration("sweep_interval", &opts.SweepInterval)
	if err := q.Err(); err != nil { // the bad values, and the unknown parameters
		return nil, fmt.Errorf("examplestore: %w", urlparam.Invalid(err))
	}
	return memory.NewStore(&opts).Lock(), nil
}

// Open calls the Opener registered for the URL's scheme: the parameters it
// read configure the Lock, and a URL it cannot use is an error that
// matches lock.ErrInvalidURL and lists every problem.
func Example_opener() {
	ctx := context.Background()
	l, err := lock.Open(ctx, "examplestore://?prefix=app:&max_ttl=1m&sweep_interval=10s")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	_, err = l.TryAcquire(ctx, "report", time.Hour)
	fmt.Println(errors.Is(err, lock.ErrInvalidTTL)) // above max_ttl

	_, err = lock.Open(ctx, "examplestore://?sweep_interval=10&colour=blue")
	fmt.Println(errors.Is(err, lock.ErrInvalidURL))
	fmt.Println(err)
	// Output:
	// true
	// true
	// lock: open examplestore://?sweep_interval=10&colour=blue: examplestore: parameter sweep_interval=10 has no unit: write 10ms or 0.01s
	// unknown parameter colour (valid: close_timeout, max_ttl, prefix, retry_interval, retry_timeout, sweep_interval)
}
