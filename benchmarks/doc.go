// Package benchmarks compares the locks of github.com/distlock/lock with
// raw clients and peer libraries, on real servers, in one run. It is a
// module of its own, so that the peers stay out of the library's go.mod.
//
//	cd benchmarks
//	LOCK_TEST_MEMCACHED_URL=memcached://127.0.0.1:11211 \
//	LOCK_TEST_REDIS_URL=redis://127.0.0.1:6379/0 \
//	go test -run '^$' -bench . -benchmem -count 5 . | tee new.txt
//
// BENCHMARKS.md holds the results and what they mean.
package benchmarks
