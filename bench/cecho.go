package main

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// cEngine is the reference point of the echo scenarios: cecho/cecho.c, a
// plain C epoll echo server, compiled with the system's C compiler on first
// use. It is not in the default -engines list, and it has no HTTP server.
const cEngine = "c-epoll"

//go:embed cecho/cecho.c
var cechoSource []byte

// startCEcho compiles cecho.c (once per source version, into the user's
// cache directory) and runs it on a free loopback port with loops threads.
func startCEcho(loops int) (*serverProc, error) {
	bin, err := buildCEcho()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	return startProc(cEngine, addr, bin, host, port, strconv.Itoa(loops))
}

// buildCEcho returns the path of the compiled cecho, compiling it if the
// cache does not hold this version yet.
func buildCEcho() (string, error) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		return "", fmt.Errorf("%s needs a C compiler (cc): %w", cEngine, err)
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "shoal-bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	sum := sha256.Sum256(cechoSource)
	bin := filepath.Join(dir, "cecho-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	src := bin + ".c"
	if err := os.WriteFile(src, cechoSource, 0o644); err != nil {
		return "", err
	}
	tmp := bin + ".tmp"
	var stderr bytes.Buffer
	cmd := exec.Command(cc, "-O2", "-pthread", "-o", tmp, src)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("compiling %s: %v: %s", src, err, strings.TrimSpace(stderr.String()))
	}
	return bin, os.Rename(tmp, bin)
}

// ccVersion is the first line of cc --version, for the report.
func ccVersion() string {
	out, err := exec.Command("cc", "--version").Output()
	if err != nil {
		return "cc (unknown)"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}
