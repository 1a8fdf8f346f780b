package pm2

import "testing"

func TestParseJListExitCode(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		want      *int
	}{
		{"never exited", `{"status":"online"}`, nil},
		{"null", `{"status":"online","exit_code":null}`, nil},
		{"exited 0 (or killed by a signal)", `{"status":"stopped","exit_code":0}`, new(0)},
		{"exited 1", `{"status":"errored","exit_code":1}`, new(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			apps, err := ParseJList([]byte(`[{"name":"whatsapp","pm_id":0,"pid":0,"pm2_env":` + tc.env + `}]`))
			if err != nil {
				t.Fatal(err)
			}
			got := apps[0].ExitCode
			if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
				t.Errorf("ExitCode = %v; want %v", deref(got), deref(tc.want))
			}
		})
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}
