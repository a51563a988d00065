// Command pause is the first process of every pod sandbox on the local node: it holds
// the pod's namespaces open, reaps orphaned children and exits on SIGTERM or SIGINT.
// The upstream pause image lives in a container registry this environment cannot
// reach, so scripts/env/images.py builds this one (static, no cgo) instead.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
