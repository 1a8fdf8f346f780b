package config

import "testing"

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		err  string // "" means no error
	}{
		{"0", 0, ""},
		{"6GiB", 6 << 30, ""},
		{"6gib", 6 << 30, ""},
		{"512MiB", 512 << 20, ""},
		{"512 MiB", 512 << 20, ""},
		{" 1KiB ", 1024, ""},
		{"1.5GiB", 3 << 29, ""},
		{"2TiB", 2 << 40, ""},
		{"6GB", 6_000_000_000, ""},
		{"6gb", 6_000_000_000, ""},
		{"1MB", 1_000_000, ""},
		{"1KB", 1000, ""},
		{"100B", 100, ""},
		{"0GiB", 0, ""},
		{"1024EiB", 0, "not a size"},
		{"1048577TiB", 0, "above the largest size, 1 EiB"},
		{"1.5B", 0, "not a whole number of bytes"},
		{"6", 0, "no unit"},
		{"", 0, "not a size"},
		{"GiB", 0, "not a size"},
		{"-1GiB", 0, "not a size"},
		{"+1GiB", 0, "not a size"},
		{"1e9B", 0, "not a size"},
		{"1..5GiB", 0, "not a size"},
		{".5GiB", 0, "not a size"},
		{"5.GiB", 0, "not a size"},
		{"6 GiB extra", 0, "not a size"},
		{"6Gi", 0, "not a size"},
		{"0x10MiB", 0, "not a size"},
		{"NaNGiB", 0, "not a size"},
		{"InfGiB", 0, "not a size"},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.want || gotErr != tt.err {
			t.Errorf("ParseByteSize(%q) = %d, %q; want %d, %q", tt.in, got, gotErr, tt.want, tt.err)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	for _, b := range []ByteSize{0, 1, 1000, 1024, 1536 << 20, 6 << 30, 3 << 40, 6_000_000_000} {
		s := b.String()
		back, err := ParseByteSize(s)
		if err != nil || back != b {
			t.Errorf("%d: String() = %q, parsed back as %d, %v", uint64(b), s, back, err)
		}
	}
	if got := ByteSize(1536 << 20).String(); got != "1536MiB" {
		t.Errorf("String() = %q; want 1536MiB", got)
	}
}
