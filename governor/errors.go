package governor

import "errors"

var (
	// ErrNoCgroup means that this process has no memory cgroup the governor
	// can read: not Linux, no cgroup filesystem mounted, or no memory
	// controller in the process's hierarchy.
	ErrNoCgroup = errors.New("governor: no memory cgroup")
	// ErrNoLimit means that the memory cgroup sets no limit.
	ErrNoLimit = errors.New("governor: the memory cgroup sets no limit")
	// ErrStarted is returned by a second Start.
	ErrStarted = errors.New("governor: already started")
	// ErrStopped is returned by Start after Stop.
	ErrStopped = errors.New("governor: stopped")
)
