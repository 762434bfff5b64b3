//go:build !plan9

package natsbroker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/pubsub/internal/pstest"
	"github.com/shoalnet/shoal/ws"
)

// TestRollingRestart: three nodes on a NATS cluster of three are drained
// and started again one after the other while a client publishes; the
// subscribers, told to go by each drain, reconnect to another node with
// their last position. Every acknowledged message reaches every
// subscriber, no offset is missing or repeated, and every reconnect
// recovers from history.
func TestRollingRestart(t *testing.T) {
	urls := startNATS(t, 3)
	e := pstest.Engines()[len(pstest.Engines())-1]
	var mu sync.Mutex
	insts := make([]*pstest.Instance, len(urls))
	live := make([]string, len(urls)) // "" while restarting
	start := func(i int) {
		b, err := Dial(urls[i], Config{Replicas: 3})
		if err != nil {
			t.Fatal(err)
		}
		in := pstest.Start(t, e, b, pubsub.Config{})
		mu.Lock()
		insts[i], live[i] = in, in.URL
		mu.Unlock()
	}
	for i := range urls {
		start(i)
	}
	pick := func(k int) string {
		mu.Lock()
		defer mu.Unlock()
		for j := range live {
			if u := live[(k+j)%len(live)]; u != "" {
				return u
			}
		}
		return ""
	}
	deadline := time.Now().Add(2 * time.Minute) // guards against a hung test only

	// dialSub connects to a live node and subscribes, from pos if set.
	dialSub := func(k int, pos *pubsub.Position) (*ws.Client, bool, error) {
		c, err := ws.Dial(pick(k), nil)
		if err != nil {
			return nil, false, err
		}
		c.NetConn().SetDeadline(deadline)
		if _, _, err := c.ReadMessage(); err != nil { // hello
			c.NetConn().Close()
			return nil, false, err
		}
		req := "sub room"
		if pos != nil {
			req += fmt.Sprintf(" since %d %s", pos.Offset, pos.Epoch)
		}
		c.WriteMessage(ws.OpText, []byte(req))
		_, m, err := c.ReadMessage()
		if err != nil {
			c.NetConn().Close()
			return nil, false, err
		}
		f := strings.Fields(string(m))
		if len(f) < 6 || f[0] != "ok" {
			c.NetConn().Close()
			return nil, false, fmt.Errorf("subscribe: %q", m)
		}
		return c, f[4] == "true", nil
	}

	type follower struct {
		mu         sync.Mutex
		offsets    []uint64
		reconnects int
		unrecov    int
	}
	followers := make([]*follower, 6)
	var wg, ready sync.WaitGroup
	stop := make(chan struct{})
	ready.Add(len(followers))
	for i := range followers {
		f := &follower{}
		followers[i] = f
		wg.Go(func() {
			var pos *pubsub.Position
			first := true
			for k := i; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				c, recovered, err := dialSub(k, pos)
				if err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if first {
					first = false
					ready.Done() // subscribed before the first publish
				}
				if pos != nil {
					f.mu.Lock()
					f.reconnects++
					if !recovered {
						f.unrecov++
					}
					f.mu.Unlock()
				}
				go func() { <-stop; c.NetConn().Close() }()
				for {
					_, m, err := c.ReadMessage()
					if err != nil {
						break // a drain's goodbye, or the end
					}
					p := strings.Fields(string(m))
					if len(p) != 5 || p[0] != "message" {
						continue
					}
					off, _ := strconv.ParseUint(p[2], 10, 64)
					pos = &pubsub.Position{Offset: off, Epoch: p[3]}
					f.mu.Lock()
					f.offsets = append(f.offsets, off)
					f.mu.Unlock()
				}
				c.NetConn().Close()
			}
		})
	}

	ready.Wait()
	// The publisher: one message at a time, acknowledged by a node.
	var acked []uint64
	pubStop := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for k, n := 0, 0; ; k++ {
			c, err := ws.Dial(pick(k), nil)
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			c.NetConn().SetDeadline(deadline)
			c.ReadMessage() // hello
			for {
				select {
				case <-pubStop:
					c.NetConn().Close()
					return
				default:
				}
				n++
				if c.WriteMessage(ws.OpText, []byte("pub room m"+strconv.Itoa(n))) != nil {
					break
				}
				_, m, err := c.ReadMessage()
				if err != nil {
					break
				}
				if f := strings.Fields(string(m)); len(f) == 2 && f[0] == "pubok" {
					off, _ := strconv.ParseUint(f[1], 10, 64)
					acked = append(acked, off)
				}
				time.Sleep(2 * time.Millisecond)
			}
			c.NetConn().Close()
		}
	}()

	time.Sleep(300 * time.Millisecond)
	for i := range insts {
		mu.Lock()
		live[i] = ""
		in := insts[i]
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := in.Stop(ctx); err != nil {
			t.Errorf("drain of node %d: %v", i, err)
		}
		cancel()
		start(i)
		time.Sleep(300 * time.Millisecond)
	}
	close(pubStop)
	<-pubDone
	if len(acked) < 50 {
		t.Fatalf("only %d messages acknowledged", len(acked))
	}
	top := acked[len(acked)-1]
	// Wait until every follower has reached the last acknowledged offset.
	for _, f := range followers {
		for {
			f.mu.Lock()
			n := len(f.offsets)
			done := n > 0 && f.offsets[n-1] >= top
			f.mu.Unlock()
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a follower is at %d of %d", n, top)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	for i, f := range followers {
		f.mu.Lock()
		// From its first offset on, each follower saw every offset once,
		// in order: nothing lost across the reconnects, nothing twice.
		for k := 1; k < len(f.offsets); k++ {
			if f.offsets[k] != f.offsets[k-1]+1 {
				t.Fatalf("follower %d: offset %d after %d", i, f.offsets[k], f.offsets[k-1])
			}
		}
		if f.offsets[0] > acked[0] {
			t.Fatalf("follower %d started at %d, after the first acknowledged %d", i, f.offsets[0], acked[0])
		}
		if f.reconnects < 1 || f.unrecov != 0 {
			t.Fatalf("follower %d: %d reconnects, %d not recovered", i, f.reconnects, f.unrecov)
		}
		t.Logf("follower %d: offsets %d-%d, %d reconnects, all recovered", i, f.offsets[0], f.offsets[len(f.offsets)-1], f.reconnects)
		f.mu.Unlock()
	}
	t.Logf("%d messages acknowledged during the rolling restart", len(acked))
}
