package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// pinning is the CPU split of a -pin run: every server process runs on the
// server CPUs, the orchestrator (the load generator) on the client CPUs.
// Both are empty when the run is not pinned.
type pinning struct {
	server, client []int
}

// pinned is the split of this run, set by pinSelf.
var pinned pinning

// pinEnv carries the split to the orchestrator once it runs under taskset
// ("0,1/2,3": server CPUs, then client CPUs).
const pinEnv = "SHOAL_BENCH_PIN"

// errFewCPUs is returned by pinSelf when there are not two CPUs to split.
var errFewCPUs = errors.New("-pin needs at least 2 CPUs; running unpinned")

// pinSelf pins the orchestrator to its half of the CPUs. The first call
// splits the CPUs this process may run on, the first half (rounded up) for
// the servers and the rest for the load generator, and re-executes this
// binary with the same arguments under taskset -c, so that every thread of
// the new process, and the Go scheduler's count of CPUs, sees the client
// half only; it returns only on failure. In the re-executed process it
// reads the split back and returns nil.
func pinSelf() error {
	if v, ok := os.LookupEnv(pinEnv); ok {
		s, c, _ := strings.Cut(v, "/")
		server, err1 := parseCPUList(s)
		client, err2 := parseCPUList(c)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("%s=%q: %w", pinEnv, v, err)
		}
		pinned = pinning{server: server, client: client}
		return nil
	}
	cpus, err := allowedCPUs()
	if err != nil {
		return err
	}
	if len(cpus) < 2 {
		return errFewCPUs
	}
	server, client := splitCPUs(cpus)
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("-pin needs taskset (util-linux): %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	env := append(os.Environ(), pinEnv+"="+cpuList(server)+"/"+cpuList(client))
	args := append([]string{"taskset", "-c", cpuList(client), exe}, os.Args[1:]...)
	return syscall.Exec(taskset, args, env)
}

// command returns the command that runs path with args, under taskset on
// the server CPUs when the run is pinned.
func (p pinning) command(path string, args ...string) *exec.Cmd {
	if len(p.server) == 0 {
		return exec.Command(path, args...)
	}
	return exec.Command("taskset", append([]string{"-c", cpuList(p.server), path}, args...)...)
}

// cpus returns the number of CPUs of the machine: n, the count this
// process sees, unless the run is pinned and it sees only its half.
func (p pinning) cpus(n int) int {
	if len(p.server) == 0 {
		return n
	}
	return len(p.server) + len(p.client)
}

// String describes the split for the report.
func (p pinning) String() string {
	if len(p.server) == 0 {
		return "off (server and load generator share the CPUs)"
	}
	return fmt.Sprintf("server on CPU %s, load generator on CPU %s (taskset; GOMAXPROCS above is the load generator's)",
		cpuList(p.server), cpuList(p.client))
}

// splitCPUs gives the first half of cpus, rounded up, to the server and the
// rest to the client.
func splitCPUs(cpus []int) (server, client []int) {
	h := (len(cpus) + 1) / 2
	return cpus[:h], cpus[h:]
}

// allowedCPUs returns the CPUs this process may run on, from
// Cpus_allowed_list in /proc/self/status.
func allowedCPUs() ([]int, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return parseCPUList(strings.TrimSpace(v))
		}
	}
	return nil, errors.New("/proc/self/status: no Cpus_allowed_list")
}

// parseCPUList parses a CPU list as the kernel and taskset write it:
// "0-3,6,8-9".
func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("CPU list %q: bad %q", s, part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("CPU list %q: bad %q", s, part)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// cpuList writes cpus as a list taskset -c accepts: "0,1,2".
func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}
