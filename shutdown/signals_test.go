//go:build unix

package shutdown

import (
	"context"
	"syscall"
	"testing"
	"time"
)

func TestSignals(t *testing.T) {
	exits := make(chan int, 1)
	reloads := make(chan struct{}, 1)
	c := New(WithExitFunc(func(code int) { exits <- code }))
	c.OnReload(func() { reloads <- struct{}{} })
	release := make(chan struct{})
	c.Add(PhaseDrain, "slow", func(ctx context.Context) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	stop := c.Listen()
	defer stop()

	syscall.Kill(syscall.Getpid(), syscall.SIGHUP)
	select {
	case <-reloads:
	case <-time.After(5 * time.Second):
		t.Fatal("SIGHUP did not reload")
	}
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	time.Sleep(50 * time.Millisecond) // the drain is under way
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	select {
	case code := <-exits:
		if code != ExitForced {
			t.Fatalf("forced exit code %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a second SIGTERM did not force the exit")
	}
	close(release)
	<-c.Done()
}
