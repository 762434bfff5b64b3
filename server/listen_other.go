//go:build !linux

package server

import "syscall"

const reusePortBalances = false

func listenControl(string) func(string, string, syscall.RawConn) error { return nil }
