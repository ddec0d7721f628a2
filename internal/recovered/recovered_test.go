package recovered

import (
	"regexp"
	"testing"
)

func panics(v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = Error(p)
		}
	}()
	explode(v)
	return nil
}

func explode(v any) {
	if s, ok := v.([]int); ok {
		_ = s[len(s)] // a runtime error: its frames are the runtime's, then ours
	}
	panic(v) // the line the error must name
}

func TestErrorNamesWhere(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"value", "boom", `^panic: boom \(at .*/recovered_test\.go:22 in .*recovered\.explode\)$`},
		{"runtime error", []int{}, `^panic: runtime error: index out of range \[0\] with length 0 \(at .*/recovered_test\.go:20 in .*recovered\.explode\)$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := panics(tc.v)
			if err == nil || !regexp.MustCompile(tc.want).MatchString(err.Error()) {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
}
