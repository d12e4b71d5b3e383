package sentinel

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A directory bucket keeps an object's metadata in its file, ahead of the
// body: Get returns both, a listing shows the body's size and ETag (as S3,
// whose ETag is the body's MD5), and a file written by hand (or with a
// damaged header) is all body.
func TestDirBucketMetadata(t *testing.T) {
	dir := t.TempDir()
	b, err := NewDirBucket(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	body := []byte("2026-01-01T00:00:00.000000Z\tready")
	tag, err := b.Create(ctx, "w/_READY", Content{Body: body, Meta: map[string]string{MetaKey: `{"format":"worksetstate/1"}`}})
	if err != nil {
		t.Fatal(err)
	}
	c, gotTag, err := b.Get(ctx, "w/_READY")
	if err != nil || !bytes.Equal(c.Body, body) || c.Meta[MetaKey] != `{"format":"worksetstate/1"}` || gotTag != tag || tag != etagOf(body) {
		t.Fatalf("Get: %q %v %s (want ETag %s), %v", c.Body, c.Meta, gotTag, etagOf(body), err)
	}
	out, err := b.List(ctx, ListInput{Prefix: "w/"})
	if err != nil || len(out.Objects) != 1 || out.Objects[0].Size != int64(len(body)) || out.Objects[0].ETag != tag {
		t.Fatalf("List: %+v, %v", out, err)
	}
	for name, data := range map[string][]byte{
		"by-hand":  []byte("2024-01-15T10:00:00Z"),
		"damaged":  []byte(metaHeader + "{not json\n" + "rest"),
		"no-line":  []byte(metaHeader + `{"a":"b"}`),
		"empty":    nil,
		"nul-body": []byte("\x00binary"),
	} {
		if err := os.WriteFile(filepath.Join(dir, "w", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, _, err := b.Get(ctx, "w/"+name)
		if err != nil || !bytes.Equal(c.Body, data) || len(c.Meta) != 0 {
			t.Errorf("%s: read as %q %v, %v; want all body", name, c.Body, c.Meta, err)
		}
	}
	// Replace compares the body's ETag and keeps the new metadata.
	if _, err := b.Replace(ctx, "w/_READY", Content{Body: []byte("x"), Meta: map[string]string{MetaKey: "2"}}, tag); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := b.Get(ctx, "w/_READY"); string(c.Body) != "x" || c.Meta[MetaKey] != "2" {
		t.Errorf("after Replace: %q %v", c.Body, c.Meta)
	}
}
