package history

import (
	"testing"

	"github.com/jonboulle/clockwork"
)

// BuildYear is buildYear for the benchmarks of package history_test, which
// may import package chart (package history may not: chart imports it).
func BuildYear(b *testing.B) (*Store, *clockwork.FakeClock) { return buildYear(b) }
