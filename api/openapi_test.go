package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// The OpenAPI document is kept true: it documents exactly the handler's
// routes, methods and query parameters (issue 26, API 5).
func TestOpenAPIDocumentsTheRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name string `json:"name"`
				In   string `json:"in"`
				Ref  string `json:"$ref"`
			} `json:"parameters"`
		} `json:"paths"`
		Components struct {
			Parameters map[string]struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	s, _ := memstore.New()
	h, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string][]string{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			var params []string
			for _, p := range op.Parameters {
				if p.Ref != "" {
					c := doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
					p.Name, p.In = c.Name, c.In
				}
				if p.In == "query" {
					params = append(params, p.Name)
				}
			}
			slices.Sort(params)
			documented[strings.ToUpper(method)+" "+path] = params
		}
	}
	served := map[string][]string{}
	for _, rt := range h.routes() {
		key := strings.TrimSuffix(rt.pattern, "{$}")
		params := slices.Clone(rt.params)
		slices.Sort(params)
		served[key] = params
	}
	for k, p := range served {
		if d, ok := documented[k]; !ok {
			t.Errorf("route %s is not documented", k)
		} else if !slices.Equal(d, p) {
			t.Errorf("%s: documented query parameters %v, served %v", k, d, p)
		}
	}
	for k := range documented {
		if _, ok := served[k]; !ok {
			t.Errorf("documented %s is not served", k)
		}
	}
}
