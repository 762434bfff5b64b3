package governor

import (
	"errors"
	"os"
)

// LimitSource says where the memory limit came from.
type LimitSource int

// Where a memory limit can come from, in order of precedence.
const (
	// LimitNone: no limit was found; the governor only reports.
	LimitNone LimitSource = iota
	// LimitOption: WithMemoryLimit.
	LimitOption
	// LimitGOMEMLIMIT: the GOMEMLIMIT environment variable, as the runtime
	// parsed it.
	LimitGOMEMLIMIT
	// LimitCgroupV1: memory.limit_in_bytes of the process's cgroup.
	LimitCgroupV1
	// LimitCgroupV2: memory.max of the process's cgroup or an ancestor.
	LimitCgroupV2
)

var limitSourceNames = [...]string{"none", "option", "GOMEMLIMIT", "cgroup v1", "cgroup v2"}

func (s LimitSource) String() string {
	if s < 0 || int(s) >= len(limitSourceNames) {
		return "unknown"
	}
	return limitSourceNames[s]
}

func lookupEnv(k string) (string, bool) { return os.LookupEnv(k) }

// envMemLimit reports whether GOMEMLIMIT is set to a limit (not "off"), and
// the limit the runtime took from it. The runtime parses the variable at
// start; its current limit is that value unless the program changed it.
func envMemLimit(h hooks) (int64, bool) {
	v, ok := h.getenv("GOMEMLIMIT")
	if !ok || v == "" || v == "off" {
		return 0, false
	}
	return h.setMemoryLimit(-1), true
}

// DetectMemoryLimit returns the memory limit the governor would work
// against without WithMemoryLimit: the GOMEMLIMIT environment variable when
// it is set, otherwise the limit of the process's memory cgroup (v1 or v2;
// Linux only). With neither it returns LimitNone and ErrNoCgroup or
// ErrNoLimit. Sizing other budgets from it, such as
// server.WithOutboundBudget, keeps them in step with the container.
func DetectMemoryLimit() (int64, LimitSource, error) {
	o := defaultOptions()
	lim, src, _, err := detectLimit(&o)
	return lim, src, err
}

// detectLimit resolves the limit by precedence and returns the cgroup, if
// one was found, for usage sampling and limit refreshes.
func detectLimit(o *options) (int64, LimitSource, *cgroup, error) {
	cg, cgErr := findCgroup(o.cgroupRootDir)
	switch lim, env := envMemLimit(o.hooks); {
	case o.limit > 0:
		return o.limit, LimitOption, cg, nil
	case env:
		return lim, LimitGOMEMLIMIT, cg, nil
	case cgErr != nil:
		return 0, LimitNone, nil, cgErr
	}
	lim, err := cg.limit()
	if err != nil {
		return 0, LimitNone, cg, err
	}
	if cg.v2 {
		return lim, LimitCgroupV2, cg, nil
	}
	return lim, LimitCgroupV1, cg, nil
}

// isNoLimit reports whether err only says that there is no limit to find.
func isNoLimit(err error) bool {
	return errors.Is(err, ErrNoCgroup) || errors.Is(err, ErrNoLimit)
}
