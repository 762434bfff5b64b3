package shutdown

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHooksRunInOrderDespitePanicsAndOverruns(t *testing.T) {
	c := New(WithTimeout(5*time.Second), WithHookTimeout(100*time.Millisecond))
	var mu sync.Mutex
	var order []string
	note := func(name string) Hook {
		return func(context.Context) error {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return nil
		}
	}
	overran := make(chan struct{})
	// Added out of phase order on purpose: phases decide, then the order added.
	c.Add(PhaseFlush, "flush", note("flush"))
	c.Add(PhaseDrain, "drain-1", note("drain-1"))
	c.Add(PhaseDrain, "panics", func(context.Context) error { panic("hook on fire") })
	c.Add(PhaseDrain, "overruns", func(context.Context) error {
		defer close(overran)
		time.Sleep(300 * time.Millisecond) // ignores its context
		return nil
	})
	c.Add(PhaseDrain, "drain-2", note("drain-2"))
	c.Add(PhaseNotReady, "not-ready", note("not-ready"))
	c.Add(PhaseStopWorkers, "fails", func(context.Context) error { return errors.New("broker gone") })

	res := c.Shutdown()
	<-overran
	want := []string{"not-ready", "drain-1", "drain-2", "flush"}
	if len(order) != len(want) {
		t.Fatalf("ran %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("ran %v, want %v", order, want)
		}
	}
	if res.Code != ExitHookError || len(res.Hooks) != 7 {
		t.Fatalf("result %+v", res)
	}
	for _, h := range res.Hooks {
		failed := h.Name == "panics" || h.Name == "overruns" || h.Name == "fails"
		if (h.Err != nil) != failed {
			t.Errorf("hook %s: err %v", h.Name, h.Err)
		}
	}
}

func TestDeadlineCodeAndLaterPhasesStillRun(t *testing.T) {
	c := New(WithTimeout(100 * time.Millisecond))
	release := make(chan struct{})
	defer close(release)
	var flushed atomic.Bool
	c.Add(PhaseDrain, "stuck", func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	c.Add(PhaseFlush, "flush", func(context.Context) error { flushed.Store(true); return nil })
	start := time.Now()
	res := c.Shutdown()
	if res.Code != ExitDeadline || !flushed.Load() {
		t.Fatalf("code %d, flushed %v", res.Code, flushed.Load())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestShutdownFromManyGoroutinesRunsOnce(t *testing.T) {
	c := New()
	var runs atomic.Int32
	c.Add(PhaseDrain, "count", func(context.Context) error {
		runs.Add(1)
		time.Sleep(20 * time.Millisecond)
		return nil
	})
	var wg sync.WaitGroup
	codes := make(chan int, 50)
	for range 50 {
		wg.Go(func() { codes <- c.Shutdown().Code })
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != ExitOK {
			t.Fatalf("code %d", code)
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("hook ran %d times", runs.Load())
	}
}
