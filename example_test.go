package worksetstate_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/daylily-informatics/worksetstate/dualwrite"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// The capability matrix of every store in the module, as each store reports
// it (the table in the package documentation is this output). No store makes
// a request to answer: Capabilities are fixed at construction.
func Example_capabilities() {
	mem, _ := memstore.New()
	ddb, _ := dynamostore.New(dynamodb.New(dynamodb.Options{Region: "us-west-2", BaseEndpoint: aws.String("http://127.0.0.1:1")}), "daylily-worksets")
	dir, _ := os.MkdirTemp("", "caps-")
	defer os.RemoveAll(dir)
	bucket, _ := sentinel.NewDirBucket(dir)
	sent, _ := sentinel.New(bucket)
	racy, _ := sentinel.New(bucket, func(o *sentinel.Options) { o.AllowRacyWrites = true })
	rows := []struct {
		name  string
		store workset.StateStore
	}{{"memstore", mem}, {"dynamostore", ddb}, {"sentinel", sent}, {"sentinel, AllowRacyWrites", racy}}
	for _, p := range []dualwrite.Phase{dualwrite.LegacyOnly, dualwrite.LegacyPrimary, dualwrite.NewPrimary, dualwrite.NewOnly} {
		w, _ := dualwrite.New(sent, ddb, func(o *dualwrite.Options) { o.Phase = p })
		rows = append(rows, struct {
			name  string
			store workset.StateStore
		}{"dualwrite " + p.String(), w})
	}
	fmt.Println("store                      | History Priority Metadata Versions Timestamps Location Retries | AtomicLeases Durable")
	mark := func(b bool) string {
		if b {
			return "yes"
		}
		return "-"
	}
	for _, r := range rows {
		c := r.store.Capabilities()
		k, g := c.Kept, c.Guarantees
		cells := []string{mark(k.History), mark(k.Priority), mark(k.Metadata), mark(k.Versions), mark(k.Timestamps), mark(k.Location), mark(k.Retries)}
		fmt.Printf("%-26s | %s | %s %s\n", r.name, strings.Join(cells, " "), mark(g.AtomicLeases), mark(g.Durable))
	}
	// Output:
	// store                      | History Priority Metadata Versions Timestamps Location Retries | AtomicLeases Durable
	// memstore                   | yes yes yes yes yes yes yes | yes -
	// dynamostore                | yes yes yes yes yes yes yes | yes yes
	// sentinel                   | - - - - - - yes | yes yes
	// sentinel, AllowRacyWrites  | - - - - - - yes | - yes
	// dualwrite legacy-only      | - - - - - - yes | yes yes
	// dualwrite legacy-primary   | - - - - - - yes | yes yes
	// dualwrite new-primary      | yes yes yes yes yes yes yes | yes yes
	// dualwrite new-only         | yes yes yes yes yes yes yes | yes yes
}
