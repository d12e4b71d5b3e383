package reliability

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/daylily-informatics/worksetstate/dualwrite"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/monitor"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

func storesUnderTest(t *testing.T) map[string]workset.StateStore {
	t.Helper()
	mem, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	ddb, err := dynamostore.New(testenv.DynamoDB(t), testenv.UniqueName("bad"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ddb.CreateTable(t.Context(), time.Minute); err != nil {
		t.Fatal(err)
	}
	dir, err := sentinel.NewDirBucket(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sen, err := sentinel.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]workset.StateStore{"memstore": mem, "dynamostore": ddb, "sentinel": sen}
}

// Every bad request gets ErrInvalidInput naming the problem, and the stored
// state is unchanged.
func TestBadInputLeavesStateUnchanged(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 256)
	for name, s := range storesUnderTest(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			if _, err := s.Register(ctx, workset.RegisterRequest{ID: "good"}); err != nil {
				t.Fatal(err)
			}
			before, err := s.Get(ctx, "good")
			if err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				what string
				err  error
				word string
			}{}
			add := func(what string, err error, word string) {
				cases = append(cases, struct {
					what string
					err  error
					word string
				}{what, err, word})
			}
			for _, id := range []string{"", ".", "..", "../x", "a/b", "a\\b", "a\x00b", long, "\xff"} {
				_, err := s.Register(ctx, workset.RegisterRequest{ID: id})
				add("Register "+id, err, "workset ID")
				_, err = s.Get(ctx, id)
				add("Get "+id, err, "workset ID")
				_, err = s.AcquireLease(ctx, id, "me", time.Minute)
				add("AcquireLease "+id, err, "workset ID")
			}
			_, err = s.Transition(ctx, workset.TransitionRequest{ID: "good", To: "done"})
			add("unknown state", err, `"done"`)
			_, err = s.Transition(ctx, workset.TransitionRequest{ID: "good", To: workset.StateInProgress, ErrorCategory: "cosmic"})
			add("unknown category", err, "cosmic")
			_, err = s.Register(ctx, workset.RegisterRequest{ID: "p", Priority: "high"})
			add("unknown priority", err, "high")
			_, err = s.AcquireLease(ctx, "good", "me", 0)
			add("zero lease", err, "not positive")
			_, err = s.AcquireLease(ctx, "good", "me", -time.Second)
			add("negative lease", err, "not positive")
			_, err = s.AcquireLease(ctx, "good", "", time.Minute)
			add("empty owner", err, "owner")
			_, err = s.List(ctx, workset.ListQuery{Cursor: "%%%"})
			add("bad cursor", err, "cursor")
			_, err = s.List(ctx, workset.ListQuery{Limit: -5})
			add("negative limit", err, "limit")
			for _, c := range cases {
				if !errors.Is(c.err, workset.ErrInvalidInput) || !strings.Contains(c.err.Error(), c.word) {
					t.Errorf("%s: got %v, want ErrInvalidInput mentioning %q", c.what, c.err, c.word)
				}
			}
			after, err := s.Get(ctx, "good")
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(before, after); d != "" {
				t.Errorf("bad input changed the stored record:\n%s", d)
			}
			n := 0
			for _, err := range workset.All(ctx, s, workset.ListQuery{}) {
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != 1 {
				t.Errorf("%d worksets stored after bad input, want 1", n)
			}
		})
	}
}

// Malformed items written by other tools give errors that name the attribute,
// never a panic, and are left as they were.
func TestMalformedDynamoDBItems(t *testing.T) {
	t.Parallel()
	c := testenv.DynamoDB(t)
	st, err := dynamostore.New(c, testenv.UniqueName("malformed"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := st.CreateTable(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	for _, tc := range []struct {
		id   string
		item map[string]types.AttributeValue
		word string
	}{
		{"unknown-state", map[string]types.AttributeValue{"state": s("done"), "priority": s("normal")}, ""}, // kept, readable, never moved unforced
		{"bad-time", map[string]types.AttributeValue{"state": s("ready"), "priority": s("normal"), "created_at": s("yesterday")}, "created_at"},
		{"bad-version", map[string]types.AttributeValue{"state": s("ready"), "priority": s("normal"), "version": s("abc")}, "version"},
		{"bad-history", map[string]types.AttributeValue{"state": s("ready"), "priority": s("normal"), "state_history": s("[]")}, "state_history"},
		{"bad-metadata", map[string]types.AttributeValue{"state": s("ready"), "priority": s("normal"), "metadata": s("{}")}, "metadata"},
	} {
		tc.item["workset_id"] = s(tc.id)
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.Table()), Item: tc.item}); err != nil {
			t.Fatal(err)
		}
		_, err := st.Get(ctx, tc.id)
		switch {
		case tc.word == "" && err != nil:
			t.Errorf("%s: Get = %v, want the record", tc.id, err)
		case tc.word != "" && (!errors.Is(err, workset.ErrMalformed) || !strings.Contains(err.Error(), tc.word) || !strings.Contains(err.Error(), tc.id)):
			t.Errorf("%s: Get = %v, want ErrMalformed naming %s and the workset", tc.id, err, tc.word)
		}
		if _, err := st.Transition(ctx, workset.TransitionRequest{ID: tc.id, To: workset.StateInProgress}); err == nil {
			t.Errorf("%s: Transition on a malformed item succeeded", tc.id)
		}
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Table()), Key: map[string]types.AttributeValue{"workset_id": s(tc.id)}})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tc.item, out.Item, avOpts); d != "" {
			t.Errorf("%s: the malformed item was changed:\n%s", tc.id, d)
		}
	}
}

// Constructors refuse missing or nonsensical options with ErrInvalidInput.
func TestConstructorsRefuseBadOptions(t *testing.T) {
	t.Parallel()
	mem, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := sentinel.NewDirBucket(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"memstore nil clock":       second(memstore.New(func(o *memstore.Options) { o.Clock = nil })),
		"dynamostore nil client":   second(dynamostore.New(nil, "t")),
		"dynamostore empty table":  second(dynamostore.New(testenv.DynamoDB(t), "")),
		"dynamostore history 0":    second(dynamostore.New(testenv.DynamoDB(t), "t", func(o *dynamostore.Options) { o.HistoryLimit = 0 })),
		"sentinel nil bucket":      second(sentinel.New(nil)),
		"sentinel root":            second(sentinel.New(dir, func(o *sentinel.Options) { o.Root = "no-slash" })),
		"sentinel naming":          second(sentinel.New(dir, func(o *sentinel.Options) { o.Naming.Names = nil })),
		"dualwrite nil store":      second(dualwrite.New(nil, mem)),
		"dualwrite phase":          second(dualwrite.New(mem, mem, func(o *dualwrite.Options) { o.Phase = 9 })),
		"dualwrite sample rate":    second(dualwrite.New(mem, mem, func(o *dualwrite.Options) { o.ShadowReadRate = 2 })),
		"migrate nil store":        second(migrate.New(nil, mem)),
		"migrate zero concurrency": second(migrate.New(mem, mem, func(o *migrate.Options) { o.Concurrency = 0 })),
	} {
		if !errors.Is(err, workset.ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", what, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

var avOpts = cmp.Exporter(func(reflect.Type) bool { return true })

// Constructors never panic on a nil option and refuse empty names (issue 26,
// errors): a nil option is no option; an empty directory would have rooted a
// store in the working directory.
func TestConstructorsTakeNilOptionsAndRefuseEmptyNames(t *testing.T) {
	t.Parallel()
	if _, err := memstore.New(nil); err != nil {
		t.Errorf("memstore.New(nil): %v", err)
	}
	if _, err := sentinel.NewDirBucket(""); !errors.Is(err, workset.ErrInvalidInput) {
		t.Errorf("NewDirBucket(\"\"): %v, want ErrInvalidInput", err)
	}
	if _, err := sentinel.NewS3Bucket(nil, "b"); !errors.Is(err, workset.ErrInvalidInput) {
		t.Errorf("NewS3Bucket(nil): %v, want ErrInvalidInput", err)
	}
	b, err := sentinel.NewDirBucket(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sentinel.New(b, nil); err != nil {
		t.Errorf("sentinel.New(b, nil): %v", err)
	}
	s, _ := memstore.New()
	if _, err := monitor.New(s, func(context.Context, *workset.Workset) error { return nil }, nil); err != nil {
		t.Errorf("monitor.New(..., nil): %v", err)
	}
}
