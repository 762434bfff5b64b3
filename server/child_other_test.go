//go:build !unix

package server

func runChild() (int, bool) { return 0, false }
