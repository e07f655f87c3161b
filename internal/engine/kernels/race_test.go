//go:build race

package kernels

// raceEnabled: the race detector makes sync.Pool drop items at random.
const raceEnabled = true
