//go:build !linux

package main

import "os/exec"

// dieWithParent does nothing outside Linux: an interrupted run may leave
// its children running.
func dieWithParent(*exec.Cmd) {}
