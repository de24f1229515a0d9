//go:build !unix

package storagetest

import "time"

// processCPU is not measured here (no getrusage): -1.
func processCPU() time.Duration { return -1 }
