package governor

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/devcert"
)

// The TLS crowd: examples/http over TLS, with the governor, in a 192 MiB
// memory cgroup, takes 6,000 TLS connections (each a handshake and one GET,
// then idle) beside 1,000 that send half a ClientHello and wait: it is not
// OOM-killed, stays below 90% of the limit, and still answers a new
// client at the end.
const (
	tlsCrowdConns   = 6000
	tlsCrowdStalled = 1000
)

func TestCgroupTLSCrowd(t *testing.T) {
	switch {
	case testing.Short():
		t.Skip("runs for about half a minute")
	case raceEnabled:
		t.Skip("the race detector's shadow memory is not what a deployment uses")
	}
	cert, ca, err := devcert.Local()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := devcert.PEM(cert)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(cf, certPEM, 0o600)
	os.WriteFile(kf, keyPEM, 0o600)
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}

	bin := buildExample(t, "http")
	cg := newTestCgroup(t, fmt.Sprintf("shoal-tls-crowd-%d", os.Getpid()), echoCgroupLimit)
	p := startInCgroup(t, cg, bin, "-addr", "127.0.0.1:0", "-admin", "", "-tls-cert", cf, "-tls-key", kf)
	var addr string
	for addr == "" {
		select {
		case a := <-p.addrs:
			if a[0] == "http server listening" {
				addr = a[1]
			}
		case <-p.exited:
			t.Fatalf("server exited: %v\n%s", p.waitErr, p.logs.String())
		case <-time.After(30 * time.Second):
			t.Fatalf("no address from the server:\n%s", p.logs.String())
		}
	}

	var conns []net.Conn
	var mu sync.Mutex
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range tlsCrowdStalled {
		c := dialFrom(t, addr, i)
		c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01})
		conns = append(conns, c)
	}
	var failed atomic.Int32
	var firstErr atomic.Value
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				c := dialFrom(t, addr, tlsCrowdStalled+i)
				if err := getOverTLS(c, client); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					c.Close()
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	for i := range tlsCrowdConns {
		next <- i
	}
	close(next)
	wg.Wait()
	time.Sleep(2 * time.Second)

	peak := cg.peak()
	_, oomKills := cg.events()
	fresh := dialFrom(t, addr, 0)
	freshErr := getOverTLS(fresh, client)
	fresh.Close()
	t.Logf("%d TLS connections open (%d failed, first: %v) beside %d stalled handshakes; peak %.1f MiB of %d MiB, OOM kills %d",
		tlsCrowdConns-int(failed.Load()), failed.Load(), firstErr.Load(), tlsCrowdStalled, float64(peak)/(1<<20), echoCgroupLimit>>20, oomKills)
	select {
	case <-p.exited:
		t.Fatalf("the server died: %v\n%s", p.waitErr, p.logs.String())
	default:
	}
	switch {
	case oomKills > 0:
		t.Fatalf("OOM kills: %d", oomKills)
	case peak > echoCgroupLimit*9/10:
		t.Fatalf("peak %d bytes, more than 90%% of the limit", peak)
	case failed.Load() > 0:
		t.Fatalf("%d of %d TLS clients failed: %v", failed.Load(), tlsCrowdConns, firstErr.Load())
	case freshErr != nil:
		t.Fatalf("a new client after the crowd: %v", freshErr)
	}
}

// getOverTLS makes a handshake and one GET / on c, which stays open.
func getOverTLS(c net.Conn, client *tls.Config) error {
	tc := tls.Client(c, client)
	tc.SetDeadline(time.Now().Add(60 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(tc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || string(body) != "Hello, World!" {
		return fmt.Errorf("GET /: %d %q %v", resp.StatusCode, body, err)
	}
	return nil
}
