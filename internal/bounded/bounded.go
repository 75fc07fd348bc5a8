// Package bounded runs calls concurrently, a bounded number at once.
package bounded

import "sync"

// Each calls f for each of indexes, at most limit at once, and returns
// when all have returned.
func Each(indexes []int, limit int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(limit, 1))
	for _, i := range indexes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}
