//go:build !linux

package governor

// cgroup stands for the memory cgroup, which only Linux has: elsewhere the
// limit comes from WithMemoryLimit or GOMEMLIMIT.
type cgroup struct {
	dir string
	v2  bool
}

func findCgroup(string) (*cgroup, error)   { return nil, ErrNoCgroup }
func (*cgroup) limit() (int64, error)      { return 0, ErrNoCgroup }
func (*cgroup) workingSet() (int64, error) { return 0, ErrNoCgroup }
