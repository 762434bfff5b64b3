package main

import (
	"fmt"
	"sync"
	"testing"
)

// TestScanGuarantee: a full SCAN returns every key that exists from its
// start to its end, while other goroutines add and delete other keys.
func TestScanGuarantee(t *testing.T) {
	s := newStore()
	set := func(key string) {
		sh := s.lock([]byte(key))
		if e := s.live(sh, []byte(key)); e == nil {
			sh.insert([]byte(key)).setVal([]byte("v"))
		}
		sh.mu.Unlock()
	}
	del := func(key string) {
		sh := s.lock([]byte(key))
		if e := s.live(sh, []byte(key)); e != nil {
			sh.remove(e)
		}
		sh.mu.Unlock()
	}
	for i := range 2000 {
		set(fmt.Sprintf("stable:%d", i))
		set(fmt.Sprintf("churn:%d", i))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("churn:%d", (i*7+w)%4000)
				if i%2 == 0 {
					del(k)
				} else {
					set(k)
				}
			}
		}()
	}
	seen := map[string]bool{}
	cursor := uint64(0)
	for {
		cursor = s.scan(cursor, 7, func(key string) { seen[key] = true })
		if cursor == 0 {
			break
		}
	}
	close(stop)
	wg.Wait()
	for i := range 2000 {
		if k := fmt.Sprintf("stable:%d", i); !seen[k] {
			t.Fatalf("SCAN missed %s", k)
		}
	}
}

// TestSlotsReuse: deleted positions are reused and the slot table does
// not grow with churn.
func TestSlotsReuse(t *testing.T) {
	s := newStore()
	for round := range 50 {
		for i := range 100 {
			key := []byte(fmt.Sprintf("k%d", i))
			sh := s.lock(key)
			if round%2 == 0 {
				sh.insert(key).setVal(key)
			} else {
				sh.remove(s.live(sh, key))
			}
			sh.mu.Unlock()
		}
	}
	total := 0
	for i := range s.shards {
		total += len(s.shards[i].slots)
	}
	if total > 100 {
		t.Fatalf("%d slots for at most 100 keys", total)
	}
}
