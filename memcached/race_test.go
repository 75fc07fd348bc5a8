//go:build race

package memcached_test

func init() { raceEnabled = true }
