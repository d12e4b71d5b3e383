package sentinel

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/daylily-informatics/worksetstate/workset"
)

// DirBucket is a Bucket over a local directory: keys are slash-separated paths
// below it. It serves the embedded default (no servers) and sentinel trees on
// shared filesystems.
//
// Create is atomic across processes (the body is written to a temporary file
// and hard-linked into place, which fails if the key exists). Replace and
// conditional Delete compare the ETag and swap under a lock that is exclusive
// within the process (striped by key); across processes on one machine they are
// atomic only against Create, not against each other. ETags are the quoted
// MD5 of the body, as S3 computes them for simple uploads. An object's
// metadata is kept in its file, ahead of the body, behind a header that starts
// with a NUL byte (metaHeader); a file without it, such as one written by
// hand, is all body.
type DirBucket struct {
	root  string
	locks [64]sync.Mutex
}

var _ Bucket = (*DirBucket)(nil)

// NewDirBucket returns a Bucket over dir, creating it if needed.
func NewDirBucket(dir string) (*DirBucket, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: sentinel: NewDirBucket needs a directory (an empty name would root the store in the working directory)", workset.ErrInvalidInput)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("sentinel: creating bucket directory: %w", err)
	}
	return &DirBucket{root: abs}, nil
}

// Name returns the directory path.
func (b *DirBucket) Name() string { return b.root }

// metaHeader starts a file that holds metadata: the header, the metadata as
// JSON on one line, then the body.
const metaHeader = "\x00worksetstate-meta "

// decodeFile splits a file into its content.
func decodeFile(data []byte) Content {
	rest, ok := bytes.CutPrefix(data, []byte(metaHeader))
	if !ok {
		return Content{Body: data}
	}
	line, body, ok := bytes.Cut(rest, []byte("\n"))
	var meta map[string]string
	if !ok || json.Unmarshal(line, &meta) != nil {
		return Content{Body: data}
	}
	return Content{Body: body, Meta: meta}
}

// encodeFile renders content as a file.
func encodeFile(c Content) []byte {
	if len(c.Meta) == 0 {
		return c.Body
	}
	line, _ := json.Marshal(c.Meta)
	return slices.Concat([]byte(metaHeader), line, []byte("\n"), c.Body)
}

func etagOf(body []byte) string {
	sum := md5.Sum(body)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// path maps a key to a file path, refusing keys that would leave the root.
func (b *DirBucket) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || slices.Contains(strings.Split(key, "/"), "..") || strings.Contains(key, "\x00") {
		return "", fmt.Errorf("sentinel: invalid key %q for a directory bucket", key)
	}
	return filepath.Join(b.root, filepath.FromSlash(key)), nil
}

func (b *DirBucket) lock(key string) *sync.Mutex {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return &b.locks[h%uint32(len(b.locks))]
}

// List implements Bucket. It walks the tree in key order. A file removed
// between reading its directory and reading its body makes the listing start
// again, so a listing never shows a folder with a file missing that was
// replaced by another after the directory was read (a transition's new
// sentinel is created before the old one is deleted).
func (b *DirBucket) List(ctx context.Context, in ListInput) (*ListOutput, error) {
	// A directory answers at once; a canceled call still fails as a
	// request to S3 would.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		out, vanished, err := b.list(ctx, in)
		if err != nil || !vanished || attempt >= 20 {
			return out, err
		}
	}
}

// list is one listing attempt: walk the keys of the page, then read their
// bodies for the ETags. vanished reports a file removed in between.
func (b *DirBucket) list(ctx context.Context, in ListInput) (*ListOutput, bool, error) {
	max := in.MaxKeys
	if max <= 0 || max > 1000 {
		max = 1000
	}
	after := in.StartAfter
	if in.ContinuationToken != "" {
		after = in.ContinuationToken
	}
	keys, vanished, err := b.walkKeys(ctx, in, after)
	if err != nil {
		return nil, false, fmt.Errorf("sentinel: listing %s in %s: %w", in.Prefix, b.root, err)
	}
	slices.SortFunc(keys, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	out := &ListOutput{}
	if len(keys) > max {
		keys = keys[:max]
		out.NextContinuationToken = keys[max-1].Key
	}
	if b.fillETags(out, keys) {
		vanished = true
	}
	return out, vanished, nil
}

// walkKeys collects the keys under in.Prefix after after (common prefixes as
// objects of Size -1 when in.Delimiter is set), walking from the deepest
// directory that contains the whole prefix.
func (b *DirBucket) walkKeys(ctx context.Context, in ListInput, after string) (keys []Object, vanished bool, err error) {
	dir := in.Prefix
	if i := strings.LastIndex(dir, "/"); i >= 0 {
		dir = dir[:i]
	} else {
		dir = ""
	}
	start := filepath.Join(b.root, filepath.FromSlash(dir))
	seenPrefix := map[string]bool{}
	err = filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, _ := filepath.Rel(b.root, p)
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if p == start || strings.HasPrefix(key+"/", in.Prefix) || strings.HasPrefix(in.Prefix, key+"/") {
				return nil
			}
			return fs.SkipDir
		}
		if strings.HasPrefix(d.Name(), ".tmp-") || !strings.HasPrefix(key, in.Prefix) {
			return nil
		}
		if in.Delimiter != "" {
			if i := strings.Index(key[len(in.Prefix):], in.Delimiter); i >= 0 {
				cp := key[:len(in.Prefix)+i+len(in.Delimiter)]
				if cp > after && !seenPrefix[cp] {
					seenPrefix[cp] = true
					keys = append(keys, Object{Key: cp, Size: -1})
				}
				return nil
			}
		}
		if key <= after {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			vanished = true // removed while walking
			return nil
		}
		keys = append(keys, Object{Key: key, Size: info.Size(), LastModified: info.ModTime().UTC()})
		return nil
	})
	return keys, vanished, err
}

// fillETags reads each object's body for its ETag and adds it (or the common
// prefix) to out. It reports whether a file vanished before it was read.
func (b *DirBucket) fillETags(out *ListOutput, keys []Object) (vanished bool) {
	for _, o := range keys {
		if o.Size == -1 {
			out.CommonPrefixes = append(out.CommonPrefixes, o.Key)
			continue
		}
		data, err := os.ReadFile(filepath.Join(b.root, filepath.FromSlash(o.Key)))
		if err != nil {
			vanished = true // removed while listing
			continue
		}
		c := decodeFile(data)
		o.ETag, o.Size = etagOf(c.Body), int64(len(c.Body))
		out.Objects = append(out.Objects, o)
	}
	return vanished
}

// Get implements Bucket.
func (b *DirBucket) Get(ctx context.Context, key string) (Content, string, error) {
	// A directory answers at once; a canceled call still fails as a
	// request to S3 would.
	if err := ctx.Err(); err != nil {
		return Content{}, "", err
	}
	p, err := b.path(key)
	if err != nil {
		return Content{}, "", err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Content{}, "", fmt.Errorf("%w: %s", ErrObjectNotFound, key)
	}
	if err != nil {
		return Content{}, "", err
	}
	c := decodeFile(data)
	return c, etagOf(c.Body), nil
}

// writeTemp writes body to a temporary file beside p.
func writeTemp(p string, body []byte) (string, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// Create implements Bucket: write a temporary file, then link it into place.
func (b *DirBucket) Create(ctx context.Context, key string, c Content) (string, error) {
	// A directory answers at once; a canceled call still fails as a
	// request to S3 would.
	if err := ctx.Err(); err != nil {
		return "", err
	}
	p, err := b.path(key)
	if err != nil {
		return "", err
	}
	tmp, err := writeTemp(p, encodeFile(c))
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("%w: %s exists", ErrPreconditionFailed, key)
		}
		return "", err
	}
	return etagOf(c.Body), nil
}

// Replace implements Bucket: compare the ETag, then rename a new file over it.
func (b *DirBucket) Replace(ctx context.Context, key string, c Content, ifMatch string) (string, error) {
	// A directory answers at once; a canceled call still fails as a
	// request to S3 would.
	if err := ctx.Err(); err != nil {
		return "", err
	}
	p, err := b.path(key)
	if err != nil {
		return "", err
	}
	mu := b.lock(key)
	mu.Lock()
	defer mu.Unlock()
	cur, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %s", ErrObjectNotFound, key)
	}
	if err != nil {
		return "", err
	}
	if etagOf(decodeFile(cur).Body) != ifMatch {
		return "", fmt.Errorf("%w: %s has changed", ErrPreconditionFailed, key)
	}
	tmp, err := writeTemp(p, encodeFile(c))
	if err != nil {
		return "", err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return etagOf(c.Body), nil
}

// Delete implements Bucket.
func (b *DirBucket) Delete(ctx context.Context, key string, ifMatch string) error {
	// A directory answers at once; a canceled call still fails as a
	// request to S3 would.
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := b.path(key)
	if err != nil {
		return err
	}
	mu := b.lock(key)
	mu.Lock()
	defer mu.Unlock()
	if ifMatch != "" {
		cur, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if etagOf(decodeFile(cur).Body) != ifMatch {
			return fmt.Errorf("%w: %s has changed", ErrPreconditionFailed, key)
		}
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Remove directories left empty, up to the root, as S3 has none.
	for dir := filepath.Dir(p); dir != b.root && strings.HasPrefix(dir, b.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}
