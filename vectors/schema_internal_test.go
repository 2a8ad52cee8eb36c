package vectors

import (
	"encoding/json"
	"maps"
	"os"
	"slices"
	"testing"
)

// TestSchema checks that schema.json lists exactly the operations, kinds
// and flags the runner knows, and every kind the files use.
func TestSchema(t *testing.T) {
	data, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs struct {
			Vector struct {
				Properties struct {
					Kind struct {
						AnyOf []struct {
							Enum []string `json:"enum"`
						} `json:"anyOf"`
					} `json:"kind"`
					Flags struct {
						Items struct {
							Enum []string `json:"enum"`
						} `json:"items"`
					} `json:"flags"`
				} `json:"properties"`
			} `json:"vector"`
			Operation struct {
				Enum []string `json:"enum"`
			} `json:"operation"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	sorted := func(xs []string) []string { xs = slices.Clone(xs); slices.Sort(xs); return xs }
	if got, want := sorted(s.Defs.Operation.Enum), slices.Sorted(maps.Keys(operations)); !slices.Equal(got, want) {
		t.Errorf("schema operations = %q, runner = %q", got, want)
	}
	published := append(slices.Collect(maps.Keys(runners)), slices.Collect(maps.Keys(skippedKinds))...)
	anyOf := s.Defs.Vector.Properties.Kind.AnyOf
	if len(anyOf) != 2 || !slices.Equal(sorted(anyOf[1].Enum), sorted(published)) {
		t.Errorf("schema published kinds = %v, runner = %q", anyOf, sorted(published))
	}
	if got, want := sorted(s.Defs.Vector.Properties.Flags.Items.Enum), slices.Sorted(maps.Keys(knownFlags)); !slices.Equal(got, want) {
		t.Errorf("schema flags = %q, runner = %q", got, want)
	}
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		for _, v := range f.Vectors {
			_, op := operations[v.Kind]
			_, run := runners[v.Kind]
			_, skip := skippedKinds[v.Kind]
			if !op && !run && !skip {
				t.Errorf("%s: kind %q is unknown", v.ID, v.Kind)
			}
		}
	}
}
