package urlparam_test

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/urlparam"
)

// A backend's Opener reads the shared parameters and its own, and reports
// every bad or unknown one at once, as an error that matches
// lock.ErrInvalidURL.
func Example() {
	parse := func(raw string) (prefix string, opts lock.Options, timeout time.Duration, err error) {
		u, err := url.Parse(raw)
		if err != nil {
			return "", opts, 0, urlparam.Invalid(err)
		}
		v, err := urlparam.Values(u)
		if err != nil {
			return "", opts, 0, fmt.Errorf("mystore: %w", urlparam.Invalid(err))
		}
		q := urlparam.New(v)
		q.Common(&prefix, &opts)        // prefix, retry_interval, max_ttl, close_timeout
		q.Duration("timeout", &timeout) // the backend's own
		if err := q.Err(); err != nil {
			return "", opts, 0, fmt.Errorf("mystore: %w", urlparam.Invalid(err))
		}
		return prefix, opts, timeout, nil
	}

	prefix, opts, timeout, err := parse("mystore://host?prefix=app:&retry_interval=50ms&timeout=2s")
	fmt.Println(prefix, opts.RetryInterval, timeout, err)

	_, _, _, err = parse("mystore://host?timeout=500&colour=blue")
	fmt.Println(errors.Is(err, lock.ErrInvalidURL))
	fmt.Println(err)
	// Output:
	// app: 50ms 2s <nil>
	// true
	// mystore: parameter timeout=500 has no unit: write 500ms or 0.5s
	// unknown parameter colour (valid: close_timeout, max_ttl, prefix, retry_interval, retry_timeout, timeout)
}
