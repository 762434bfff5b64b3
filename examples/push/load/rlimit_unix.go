//go:build unix

package main

import "syscall"

// raiseNofile raises the soft limit on open descriptors to the hard limit
// and returns both. (The Go runtime already does this at start-up on most
// Unix systems; doing it here makes the limit explicit and reportable.)
func raiseNofile() (soft, hard uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, 0, err
		}
	}
	return uint64(rl.Cur), uint64(rl.Max), nil
}
