package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the child get SIGKILL if this process dies first, so
// that an interrupted run leaves no bot or redis-server behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
