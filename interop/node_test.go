package interop

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var npmOnce sync.Once

// nodeClient makes sure node/node_modules holds the pinned ws package
// (npm ci, from package-lock.json) and returns node's path.
func nodeClient(t *testing.T) string {
	t.Helper()
	node := needTool(t, "node", "nodejs")
	npm := needTool(t, "npm")
	var err error
	var out []byte
	npmOnce.Do(func() {
		if _, e := os.Stat(filepath.Join("node", "node_modules", "ws", "package.json")); e == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), testWithin)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = "node"
		out, err = cmd.CombinedOutput()
	})
	if err != nil {
		t.Fatalf("npm ci in interop/node: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join("node", "node_modules", "ws", "package.json")); err != nil {
		t.Fatalf("no ws package in interop/node/node_modules: %v", err)
	}
	return node
}

// TestNodeWS: node's ws client (node/client.mjs) exchanges text, binary,
// fragmented and 16 MiB messages with wsecho, with and without
// permessage-deflate, then the test sends SIGTERM: the client must see
// the close 1001 and exit 0, and wsecho exit 0.
func TestNodeWS(t *testing.T) {
	node := nodeClient(t)
	for _, deflate := range []bool{false, true} {
		t.Run(deflateName(deflate), func(t *testing.T) {
			s := startServer(t)
			mode := "plain"
			if deflate {
				mode = "deflate"
			}
			ctx, cancel := context.WithTimeout(context.Background(), testWithin)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "client.mjs", s.URL("/node"), mode)
			cmd.Dir = "node"
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			echoed := false
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if strings.TrimSpace(sc.Text()) == "echoed" {
					echoed = true
					break
				}
			}
			if echoed {
				s.Drain(t)
			}
			for sc.Scan() { // to the end, so that Wait may close the pipe
			}
			err = cmd.Wait()
			t.Logf("client.mjs %s:\n%s", mode, stderr.String())
			if !echoed || err != nil {
				t.Fatalf("client.mjs %s: %v (echoed: %v); wsecho logs:\n%s", mode, err, echoed, s.logs)
			}
			s.WaitExit0(t)
		})
	}
}
