package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machine is what the report header says about the machine, read when the
// run starts.
type machine struct {
	start   time.Time
	cpu     string // model name and what else /proc/cpuinfo tells
	memory  string // MemTotal
	kernel  string
	load    string // load averages over 1, 5 and 15 minutes at the start
	wrk     string // wrk's version, "" when it is not on PATH
	virtual bool   // the CPU flags say a hypervisor runs the machine
}

// readMachine describes this machine; what cannot be read is "unknown".
func readMachine() machine {
	m := machine{start: time.Now(), cpu: "unknown CPU", memory: "unknown", kernel: kernel(), load: "unknown"}
	m.cpu, m.virtual = cpuInfo()
	if kb, ok := meminfo("MemTotal"); ok {
		m.memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.load = strings.Join(f[:3], " ")
		}
	}
	if p := wrkPath(); p != "" {
		out, _ := exec.Command(p, "-v").CombinedOutput() // wrk -v prints its version and exits 1
		v, _, _ := strings.Cut(strings.SplitN(string(out), "\n", 2)[0], " Copyright")
		m.wrk = strings.TrimSpace(v)
	}
	return m
}

// machineHeader describes the machine, the toolchain, the peers' versions
// and the settings of the run.
func machineHeader(b *strings.Builder, o options, m machine) {
	fmt.Fprintf(b, "- date: %s; the whole run took %v\n", m.start.UTC().Format("2006-01-02 15:04 UTC"), time.Since(m.start).Round(time.Second))
	if len(o.args) > 0 {
		fmt.Fprintf(b, "- command: `go run . %s` (in bench/)\n", strings.Join(o.args, " "))
	}
	virt := ""
	if m.virtual {
		virt = ", virtual machine"
	}
	fmt.Fprintf(b, "- CPU: %s, %d logical CPUs%s, GOMAXPROCS %d\n", m.cpu, pinned.cpus(runtime.NumCPU()), virt, runtime.GOMAXPROCS(0))
	fmt.Fprintf(b, "- memory: %s; load average at the start (1, 5, 15 min): %s\n", m.memory, m.load)
	fmt.Fprintf(b, "- kernel: %s\n", m.kernel)
	fmt.Fprintf(b, "- Go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(b, "- engines: %s\n", engineVersions(o.engines))
	if o.has("ws") || o.has("wsidle") {
		fmt.Fprintf(b, "- WebSocket servers: %s\n", wsVersions(o.wsEngines))
	}
	if o.has("pubsub") {
		fmt.Fprintf(b, "- fan-out servers: %s\n", pubsubVersions(o.pubsubEngines))
	}
	if o.has("http") {
		w := "not installed"
		if m.wrk != "" {
			w = m.wrk
		}
		fmt.Fprintf(b, "- HTTP: baseline net/http of %s; wrk: %s\n", runtime.Version(), w)
	}
	fmt.Fprintf(b, "- settings: %d run(s) per engine and case, engines alternated run by run, each run in a fresh server process; ", o.runs)
	if o.has("echo") || o.has("open") || o.has("connect") || o.has("http") || o.has("ws") {
		fmt.Fprintf(b, "echo, open loop, connect, HTTP, WebSocket: warm-up %v, measured %v; ", o.warmup, o.duration)
	}
	if o.has("pubsub") {
		fmt.Fprintf(b, "pubsub: warm-up %v, measured %v; ", o.pubsubWarmup, o.pubsubDuration)
	}
	fmt.Fprintf(b, "server loops %d; client and server on the same machine over loopback\n", o.loops)
	fmt.Fprintf(b, "- CPU pinning: %v\n", pinned)
}

// cpuInfo returns the model of the first CPU of /proc/cpuinfo with its
// family, model number, clock and core layout, and whether the flags name
// a hypervisor.
func cpuInfo() (desc string, virtual bool) {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU", false
	}
	defer f.Close()
	first := map[string]string{}
	sockets := map[string]bool{}
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20) // the flags line is long
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "physical id" {
			sockets[v] = true
		}
		if _, seen := first[k]; !seen {
			first[k] = v
		}
	}
	desc = first["model name"]
	if desc == "" {
		desc = "unknown CPU"
	}
	var extra []string
	if first["cpu family"] != "" && first["model"] != "" {
		extra = append(extra, "family "+first["cpu family"]+" model "+first["model"])
	}
	if mhz, err := strconv.ParseFloat(first["cpu MHz"], 64); err == nil {
		extra = append(extra, fmt.Sprintf("%.0f MHz", mhz))
	}
	cores, err1 := strconv.Atoi(first["cpu cores"])
	siblings, err2 := strconv.Atoi(first["siblings"])
	if err1 == nil && err2 == nil && cores > 0 {
		extra = append(extra, fmt.Sprintf("%d socket(s) × %d cores × %d thread(s) per core", max(len(sockets), 1), cores, siblings/cores))
	}
	if first["cache size"] != "" {
		extra = append(extra, first["cache size"]+" cache per core")
	}
	if len(extra) > 0 {
		desc += " (" + strings.Join(extra, ", ") + ")"
	}
	for _, fl := range strings.Fields(first["flags"]) {
		if fl == "hypervisor" {
			virtual = true
		}
	}
	return desc, virtual
}

// meminfo returns a field of /proc/meminfo in KiB.
func meminfo(field string) (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && k == field {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func kernel() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "unknown"
	}
	return cString(u.Sysname[:]) + " " + cString(u.Release[:]) + " " + cString(u.Machine[:])
}

// cString converts a NUL-terminated utsname field (int8 or uint8 depending
// on the architecture) to a string.
func cString[T int8 | uint8](a []T) string {
	var sb strings.Builder
	for _, c := range a {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}
