package manager

import (
	"cmp"
	"maps"
	"slices"
)

func sortedPIDs(pids []int32) []int32 {
	out := slices.Clone(pids)
	slices.Sort(out)
	return out
}

func mapKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}

func sortedKeys(m map[string]string) []string { return mapKeys(m) }
