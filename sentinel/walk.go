package sentinel

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/daylily-informatics/worksetstate/internal/adaptive"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// folderListing is one workset folder as a pass sees it: the objects
// directly under it, and whether it has subfolders (data).
type folderListing struct {
	id      string
	objects []Object
	sub     bool
}

// Pass shapes. A prefix-wide listing reads every key under the root, data
// files included, 1000 a request, one request after another; a per-folder
// listing reads the root's folders with a delimiter (1000 a request) and then
// each folder's direct objects with a delimiter (one request a folder, many in
// flight). With F keys a folder and P listings in flight, the first costs
// about F/1000 round trips a folder and the second 1/P: walk starts
// prefix-wide and switches after its first page when that page shows folders
// of more than deepKeys keys (1000/32), so a shallow layout (the guide's three
// objects a folder) keeps the one cheap listing and a deep one (daylily's
// FASTQ files) pays for its worksets, not its data.
const deepKeys = 1000 / 32

// walker runs the passes of one bucket and root.
type walker struct {
	b    Bucket
	root string
	// lim bounds the per-folder listings in flight, adapting as the
	// Migrator's writes do (internal/adaptive); shared by a store's passes.
	lim *adaptive.Limiter
	// batch is the most folders handed to visit at once (memory stays
	// bounded by it, not by the bucket).
	batch int
	// size, when set, says how many folders the next folder-by-folder batch
	// should list (clamped to 1..batch): a page asks for what it still needs.
	size func() int
	// shape remembers what the last passes found: after a pass found deep
	// folders, the next ones go folder by folder at once (no probing page),
	// and every reprobeEvery-th pass probes again, so a layout that changes
	// shape is followed.
	shape *passShape
}

// passShape is a walker's memory of the layout's shape, shared by a store's
// passes.
type passShape struct {
	deep   atomic.Bool
	passes atomic.Int64
}

const reprobeEvery = 16

// walk visits, in key order, every folder under root after the folder of
// `after` (all of them when empty), batch by batch.
func (wk *walker) walk(ctx context.Context, after string, visit func([]folderListing) error) error {
	if wk.shape != nil && wk.shape.deep.Load() && wk.shape.passes.Add(1)%reprobeEvery != 0 {
		return wk.folders(ctx, after, after == "", visit)
	}
	start := ""
	if after != "" {
		start = wk.root + after + "0" // '0' sorts right after '/': skips after's folder
	}
	in := ListInput{Prefix: wk.root, StartAfter: start}
	var pending []folderListing
	var cur *folderListing
	emit := func(final bool) error {
		if len(pending) == 0 || (!final && len(pending) < wk.batch) {
			return nil
		}
		err := visit(pending)
		pending = pending[:0]
		return err
	}
	for page := 0; ; page++ {
		out, err := wk.list(ctx, in)
		if err != nil {
			return err
		}
		for _, o := range out.Objects {
			rest, under := strings.CutPrefix(o.Key, wk.root)
			id, name, ok := strings.Cut(rest, "/")
			if !under || !ok || id == "" {
				continue // outside root (a Bucket listing too much), or at the root level
			}
			if cur == nil || cur.id != id {
				if err := emit(false); err != nil {
					return err
				}
				pending = append(pending, folderListing{id: id})
				cur = &pending[len(pending)-1]
			}
			switch {
			case name == "":
			case strings.Contains(name, "/"):
				cur.sub = true
			default:
				cur.objects = append(cur.objects, o)
			}
		}
		deep := len(pending) > 0 && len(out.Objects)/len(pending) > deepKeys
		if page == 0 && wk.shape != nil {
			wk.shape.deep.Store(deep && out.NextContinuationToken != "")
		}
		if out.NextContinuationToken == "" {
			return emit(true)
		}
		if page == 0 && deep {
			// Deep folders: the last one may be cut by the page; the others
			// are whole. Go on folder by folder from it.
			last := pending[len(pending)-1].id
			pending = pending[:len(pending)-1]
			if err := emit(true); err != nil {
				return err
			}
			return wk.folders(ctx, last, true, visit)
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// folders lists the folders from the folder named from on (every folder
// whose prefix sorts before from's was visited already; from's own too
// unless include), with a delimiter, then each folder's direct objects in
// parallel, and visits them in key order, batch by batch. An empty from with
// include lists them all.
func (wk *walker) folders(ctx context.Context, from string, include bool, visit func([]folderListing) error) error {
	first := wk.root + from + "/"
	// StartAfter is a key: from's own prefix sorts after it. The few folders
	// between (from-x/ sorts before from/) were visited: skipped below.
	in := ListInput{Prefix: wk.root, Delimiter: "/"}
	if from != "" {
		in.StartAfter = wk.root + from
	}
	for {
		out, err := wk.list(ctx, in)
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(out.CommonPrefixes))
		for _, p := range out.CommonPrefixes {
			rest, under := strings.CutPrefix(p, wk.root)
			if id := strings.TrimSuffix(rest, "/"); under && id != "" && !strings.Contains(id, "/") && (from == "" || p > first || (include && p == first)) {
				ids = append(ids, id)
			}
		}
		for len(ids) > 0 {
			n := wk.batch
			if wk.size != nil {
				n = max(1, min(n, wk.size()))
			}
			n = min(len(ids), n)
			got, err := wk.listFolders(ctx, ids[:n])
			if err != nil {
				return err
			}
			if err := visit(got); err != nil {
				return err
			}
			ids = ids[n:]
		}
		if out.NextContinuationToken == "" {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// list is one page of a listing of the root (shared under
// storekit.ShareReads as a folder's listing is).
func (wk *walker) list(ctx context.Context, in ListInput) (*ListOutput, error) {
	key := fmt.Sprintf("%s\x00list\x00%s\x00%s\x00%s\x00%s\x00%d", wk.b.Name(), in.Prefix, in.Delimiter, in.StartAfter, in.ContinuationToken, in.MaxKeys)
	v, err := storekit.ShareRead(ctx, key, func() (any, error) { return wk.b.List(ctx, in) })
	if err != nil {
		return nil, err
	}
	return v.(*ListOutput), nil
}

// listFolders lists each folder's direct objects (with a delimiter: never
// its subfolders' contents), as many at once as the limiter allows.
//
// Under storekit.ShareReads (a dry run's layout check beside its pass) each
// folder is listed once between the two passes.
func (wk *walker) listFolders(ctx context.Context, ids []string) ([]folderListing, error) {
	out := make([]folderListing, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	for i, id := range ids {
		g.Go(func() error {
			v, err := storekit.ShareRead(gctx, wk.b.Name()+"\x00"+wk.root+id, func() (any, error) {
				if err := wk.lim.Acquire(gctx); err != nil {
					return nil, err
				}
				start := time.Now()
				f, err := listFolder(gctx, wk.b, wk.root, id)
				wk.lim.Release(time.Since(start), err)
				return f, err
			})
			if err != nil {
				return err
			}
			out[i] = v.(folderListing)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// listFolder lists one folder's direct objects, paginated.
func listFolder(ctx context.Context, b Bucket, root, id string) (folderListing, error) {
	f := folderListing{id: id}
	prefix := root + id + "/"
	in := ListInput{Prefix: prefix, Delimiter: "/"}
	for {
		out, err := b.List(ctx, in)
		if err != nil {
			return f, err
		}
		for _, o := range out.Objects {
			if o.Key != prefix {
				f.objects = append(f.objects, o)
			}
		}
		if len(out.CommonPrefixes) > 0 {
			f.sub = true
		}
		if out.NextContinuationToken == "" {
			return f, nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}
