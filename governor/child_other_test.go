//go:build !linux

package governor

// runChild runs the child side of the cgroup test, which exists on Linux only.
func runChild() (int, bool) { return 0, false }
