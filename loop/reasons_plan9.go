package loop

// isReset: Plan 9 reports broken connections as strings, not error
// numbers; they count as ReasonError there.
func isReset(error) bool { return false }
