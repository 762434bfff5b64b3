package governor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// cgroup is the memory controller's directory of this process's cgroup,
// in the v1 (memory.limit_in_bytes) or the v2 (memory.max) layout. Where a
// v1 memory hierarchy is mounted (hybrid hosts), it is the one that
// applies: the v2 tree then has no memory controller.
type cgroup struct {
	dir   string // the cgroup's directory
	mount string // the mount point of its hierarchy (v2 walks up to it)
	v2    bool
}

// findCgroup locates this process's memory cgroup from /proc/self/cgroup
// and /proc/self/mountinfo under root ("/" outside tests).
func findCgroup(root string) (*cgroup, error) {
	membership, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoCgroup, err)
	}
	mountinfo, err := os.ReadFile(filepath.Join(root, "proc/self/mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoCgroup, err)
	}
	var v1Path, v2Path string
	var hasV1, hasV2 bool
	for line := range strings.Lines(string(membership)) {
		// hierarchy-ID:controller-list:cgroup-path
		id, rest, ok1 := strings.Cut(strings.TrimSpace(line), ":")
		ctrls, path, ok2 := strings.Cut(rest, ":")
		switch {
		case !ok1 || !ok2:
		case id == "0" && ctrls == "":
			v2Path, hasV2 = path, true
		case slices.Contains(strings.Split(ctrls, ","), "memory"):
			v1Path, hasV1 = path, true
		}
	}
	mounts, err := parseMountinfo(mountinfo)
	if err != nil {
		return nil, err
	}
	if hasV1 {
		for _, m := range mounts {
			if m.fstype == "cgroup" && slices.Contains(strings.Split(m.super, ","), "memory") {
				if dir, ok := resolveCgroup(root, m, v1Path); ok {
					return &cgroup{dir: dir, mount: filepath.Join(root, m.point)}, nil
				}
			}
		}
	}
	if hasV2 {
		for _, m := range mounts {
			if m.fstype == "cgroup2" {
				if dir, ok := resolveCgroup(root, m, v2Path); ok {
					return &cgroup{dir: dir, mount: filepath.Join(root, m.point), v2: true}, nil
				}
			}
		}
	}
	return nil, ErrNoCgroup
}

// mount is one line of /proc/self/mountinfo.
type mount struct {
	root   string // the directory of the filesystem mounted
	point  string // where it is mounted
	fstype string
	super  string // per-superblock options (v1: the controllers)
}

// parseMountinfo parses /proc/self/mountinfo (proc(5)):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//	(1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
func parseMountinfo(b []byte) ([]mount, error) {
	var out []mount
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 3 {
			return nil, fmt.Errorf("governor: malformed mountinfo line %q", line)
		}
		out = append(out, mount{root: unescapeOctal(f[3]), point: unescapeOctal(f[4]), fstype: g[0], super: g[2]})
	}
	return out, nil
}

// unescapeOctal undoes the \ooo escapes of mountinfo paths (space, tab,
// newline, backslash).
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// resolveCgroup maps a cgroup path from /proc/self/cgroup into the mount m:
// the path is relative to the hierarchy's root, and m may mount a subtree
// of it (a container without a cgroup namespace sees /docker/<id> mounted
// at /sys/fs/cgroup/memory). A path outside the mounted subtree means the
// container sees only its own cgroup, at the mount point.
func resolveCgroup(root string, m mount, path string) (string, bool) {
	rel, ok := strings.CutPrefix(path, m.root)
	if !ok || (rel != "" && m.root != "/" && !strings.HasPrefix(rel, "/")) {
		rel = ""
	}
	dir := filepath.Join(root, m.point, rel)
	st, err := os.Stat(dir)
	return dir, err == nil && st.IsDir()
}

// unlimitedV1 is above any real limit: cgroup v1 writes "no limit" as the
// largest page-aligned int64 (9223372036854771712).
const unlimitedV1 = 1 << 62

// limit returns the cgroup's memory limit. v1: the smaller of
// memory.limit_in_bytes and memory.stat's hierarchical_memory_limit (which
// folds in the ancestors' limits). v2: the smallest memory.max from the
// cgroup up to the root of the hierarchy.
func (c *cgroup) limit() (int64, error) {
	if !c.v2 {
		lim, err := readInt(filepath.Join(c.dir, "memory.limit_in_bytes"))
		if err != nil {
			return 0, err
		}
		if h, err := readStat(filepath.Join(c.dir, "memory.stat"), "hierarchical_memory_limit"); err == nil {
			lim = min(lim, h)
		}
		if lim >= unlimitedV1 {
			return 0, ErrNoLimit
		}
		return lim, nil
	}
	lim := int64(-1)
	for dir := c.dir; ; dir = filepath.Dir(dir) {
		b, err := os.ReadFile(filepath.Join(dir, "memory.max"))
		switch {
		case errors.Is(err, os.ErrNotExist): // the root has none
		case err != nil:
			return 0, err
		case string(bytes.TrimSpace(b)) == "max":
		default:
			n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("governor: %s/memory.max: %w", dir, err)
			}
			if lim < 0 || n < lim {
				lim = n
			}
		}
		if dir == c.mount || len(dir) <= len(c.mount) {
			break
		}
	}
	if lim < 0 {
		return 0, ErrNoLimit
	}
	return lim, nil
}

// workingSet returns the cgroup's usage minus its inactive file pages,
// which the kernel reclaims before it kills anything (the kubelet's
// "working set").
func (c *cgroup) workingSet() (int64, error) {
	usage, inactive := "memory.usage_in_bytes", "total_inactive_file"
	if c.v2 {
		usage, inactive = "memory.current", "inactive_file"
	}
	u, err := readInt(filepath.Join(c.dir, usage))
	if err != nil {
		return 0, err
	}
	if n, err := readStat(filepath.Join(c.dir, "memory.stat"), inactive); err == nil && n < u {
		u -= n
	}
	return u, nil
}

// readInt reads a file holding one decimal number.
func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("governor: %s: %w", path, err)
	}
	return int64(min(n, 1<<63-1)), nil
}

// readStat returns the value of key in a memory.stat file.
func readStat(path, key string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("governor: %s: %s: %w", path, key, err)
			}
			return int64(min(n, 1<<63-1)), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("governor: %s: no %s", path, key)
}
