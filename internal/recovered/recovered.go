package recovered

import (
	"fmt"
	"runtime"
	"strings"
)

// Error is the error for p, a value recover returned: "panic: <p> (at file:line
// in function)". Call it from the deferred function that recovered, while the
// panicking frames are still on the stack.
func Error(p any) error {
	return fmt.Errorf("panic: %v (at %s)", p, site())
}

// site is the first frame below the runtime's panic machinery: where it panicked.
// The frames above runtime.gopanic are this package's and the deferred function's.
func site() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	inPanic := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			inPanic = true
		case inPanic && !strings.HasPrefix(f.Function, "runtime."):
			return fmt.Sprintf("%s:%d in %s", f.File, f.Line, f.Function)
		}
		if !more {
			return "unknown"
		}
	}
}
