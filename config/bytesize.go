package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ByteSize is an amount of memory in bytes, written in the file as a number
// and a unit: "6GiB", "512MiB", "1.5GB". 0 (written "0") means none: a
// limit that is off.
type ByteSize uint64

// byteUnits are the units ParseByteSize knows, matched without regard to
// case: the IEC ones (KiB = 1024 bytes) and the SI ones (KB = 1000 bytes).
var byteUnits = []struct {
	name string
	size float64
}{
	{"B", 1},
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
}

// maxByteSize is the largest size ParseByteSize accepts: 1 EiB, far above
// any machine's memory, and exact in a float64.
const maxByteSize = 1 << 60

// errByteSizeUnit and errByteSizeNumber are ParseByteSize's complaints;
// the decoder words them with the field.
var (
	errByteSizeUnit   = errors.New("no unit")
	errByteSizeNumber = errors.New("not a size")
)

// ParseByteSize parses a size: "0", or a non-negative decimal number
// followed by a unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB; any case; a
// space between them is allowed): "6GiB", "512 MiB", "1.5GB". A number
// without a unit is refused (is "6" bytes or gigabytes?), and so are
// negative numbers, exponents, fractions of a byte and sizes above 1 EiB.
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	if num == "" || strings.Count(num, ".") > 1 || num[0] == '.' || num[len(num)-1] == '.' {
		return 0, errByteSizeNumber
	}
	if unit == "" {
		return 0, errByteSizeUnit
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, errByteSizeNumber
	}
	for _, u := range byteUnits {
		if !strings.EqualFold(unit, u.name) {
			continue
		}
		v := n * u.size
		if v > maxByteSize {
			return 0, fmt.Errorf("above the largest size, 1 EiB")
		}
		if v != math.Trunc(v) {
			return 0, fmt.Errorf("not a whole number of bytes")
		}
		return ByteSize(v), nil
	}
	return 0, errByteSizeNumber
}

// String writes b the way ParseByteSize reads it: in the largest IEC unit
// that divides it ("6GiB", "1536MiB"), in bytes otherwise ("1000B"), "0"
// for none.
func (b ByteSize) String() string {
	if b == 0 {
		return "0"
	}
	for _, u := range []struct {
		name string
		size uint64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if uint64(b)%u.size == 0 {
			return strconv.FormatUint(uint64(b)/u.size, 10) + u.name
		}
	}
	return strconv.FormatUint(uint64(b), 10) + "B"
}
