// Package memory keeps locks in the memory of the process: a map under a
// mutex. It needs no server, so it serves tests, single-process programs,
// and the examples. It passes the same conformance suite (locktest) as the
// networked backends.
//
// [New] returns a Lock on a private store; [NewStore] returns a store on
// which [Store.Lock] hands out any number of Lock values that contend as
// separate processes would. By URL, after importing this package:
//
//	l, err := lock.Open(ctx, "memory://jobs")
//
// # URLs
//
//	memory://[name][?parameters]
//
// Every URL with the same name (the empty name included) shares one store
// for the life of the process. The parameters are those every backend
// takes, with the same meaning (durations carry their unit, as 250ms or
// 2s):
//
//	prefix          prepended to every key (default: none)
//	retry_interval  the longest pause between attempts of a wait (default
//	                100ms); retry_timeout is the same setting
//	max_ttl         the longest ttl accepted (default lock.DefaultMaxTTL)
//	close_timeout   how long Close spends releasing (default 2s)
//
// Other parameters are an error.
//
// # Expiry and waking
//
// A lock expires exactly at its ttl on the store's clock ([Options].Now,
// which tests may replace to let locks expire without sleeping), counted
// from the moment the store took it, under its mutex. Expired
// locks are removed when next touched, and by a janitor that sweeps the store
// every SweepInterval while the store holds locks and has open Lock values,
// so abandoned keys do not grow memory without bound. A release wakes the
// waits on its key at once; an expiry wakes them within their retry interval.
//
// # Fencing
//
// Every acquisition gets a fencing token (lock.Lease.Fence): the count of
// the store's acquisitions so far, of every key, which only grows.
//
// # Tests on fake time
//
// A Store made inside a testing/synctest bubble runs on the bubble's fake
// clock, and so do the Lock values, leases and keep-alives built on it:
// a test of work that outlives many ttls runs in milliseconds. Close every
// Lock value before the bubble ends, so that the store's janitor stops.
//
// # Caveats
//
// Locks are shared only within one process, and are lost when it exits.
package memory
