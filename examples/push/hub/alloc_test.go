//go:build !race

package hub

import "testing"

// TestPublishAllocs: a publish allocates its one frame, however many
// subscribers the topic has; queueing it for each and flushing allocate
// nothing once the pending lists have grown.
func TestPublishAllocs(t *testing.T) {
	h := newHub(t)
	subs := make([]*Subscriber, 100)
	for i := range subs {
		subs[i] = h.NewSubscriber(&sink{})
		h.Subscribe(subs[i], "t")
	}
	w := &writer{}
	payload := make([]byte, 128)
	round := func() {
		h.Publish([]byte("t"), payload)
		for _, s := range subs {
			h.Flush(s, w)
		}
		w.frames = w.frames[:0]
	}
	round() // the snapshot and the pending lists
	if n := testing.AllocsPerRun(100, round); n > 1 {
		t.Fatalf("%v allocations per publish to 100 subscribers, want 1 (the frame)", n)
	}
}
