package llama

// SetGeneric switches the vector routines to plain Go (on) or back to what
// the CPU supports, for tests of the fallback path.
func SetGeneric(on bool) (restore func()) {
	saved := useAVX2
	useAVX2 = useAVX2 && !on
	return func() { useAVX2 = saved }
}
