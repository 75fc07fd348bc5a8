//go:build race

package etcd_test

func init() { raceEnabled = true }
