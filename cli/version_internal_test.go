package cli

import (
	"runtime/debug"
	"testing"
)

func TestVersionLine(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	cases := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"release", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"},
			Settings: settings("vcs", "git", "vcs.revision", "0123abcd", "vcs.time", "2026-11-29T02:15:00Z", "vcs.modified", "false")},
			"provisioner v1.4.0 (0123abcd 2026-11-29T02:15:00Z)"},
		{"work tree with changes", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "0123abcd", "vcs.time", "2026-11-29T02:15:00Z", "vcs.modified", "true")},
			"provisioner (devel) (0123abcd, modified 2026-11-29T02:15:00Z)"},
		{"no vcs", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "provisioner v1.4.0"},
		{"no build information", nil, "provisioner unknown"},
	}
	for _, tc := range cases {
		if got := versionLine(tc.bi); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
