package pubsub

import (
	"sync"
	"sync/atomic"
	"testing"
)

type countedFrame struct{ released *atomic.Int32 }

func (f countedFrame) Release() { f.released.Add(1) }

// TestFrameMadeOnce: loops that reach a publication at the same instant
// get one Frame, made once; the last shard's release releases it once.
func TestFrameMadeOnce(t *testing.T) {
	for range 200 {
		var made, released atomic.Int32
		e := &Encoding{encode: func(*Publication) Frame { made.Add(1); return countedFrame{&released} }}
		p := &Publication{Topic: "t", Kind: Message}
		const loops = 8
		p.refs.Store(loops)
		var start, wg sync.WaitGroup
		start.Add(1)
		frames := make([]Frame, loops)
		for i := range loops {
			wg.Go(func() {
				start.Wait()
				frames[i] = p.Frame(e)
				p.release()
			})
		}
		start.Done()
		wg.Wait()
		if made.Load() != 1 || released.Load() != 1 {
			t.Fatalf("made %d frames, released %d; want 1 and 1", made.Load(), released.Load())
		}
		for i, f := range frames {
			if f != frames[0] {
				t.Fatalf("loop %d got another frame", i)
			}
		}
	}
}
