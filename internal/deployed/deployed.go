// Package deployed replays, with raw DynamoDB calls, the write protocol of the
// deployed Python code (daylib/workset_state_db.py, last deployed version) as
// ../shared/reference/deployed-system-facts.md records it, so tests can run it
// beside the SDK on one table. It is a test peer, not a client to use: it keeps
// that code's defects (read-then-write retry counts, no transition rules).
package deployed

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// LockTimeout is the deployed default lock timeout.
const LockTimeout = time.Hour

// Monitor is one Python process: its owner id and its clock.
type Monitor struct {
	Client *dynamodb.Client
	Table  string
	Owner  string
	// Now tells the time (default time.Now).
	Now func() time.Time
	// Timeout is the lock timeout (default LockTimeout).
	Timeout time.Duration
	// BeforeWrite, when set, runs in AcquireLock between the read and its
	// judgement and the conditional write: a test puts another writer there.
	BeforeWrite func()
}

type item = map[string]types.AttributeValue

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func (m *Monitor) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *Monitor) timeout() time.Duration {
	if m.Timeout > 0 {
		return m.Timeout
	}
	return LockTimeout
}

// Timestamp formats t as the deployed code does: datetime.isoformat() with
// "+00:00" replaced by "Z", microseconds only when non-zero.
func Timestamp(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05") + "Z"
	}
	return t.Format("2006-01-02T15:04:05.000000") + "Z"
}

// parse reads a timestamp as Python's fromisoformat would after the deployed
// code's "Z" handling; ok is false for anything it cannot parse.
func parse(v string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
	return t, err == nil
}

func str(it item, name string) (string, bool) {
	v, ok := it[name].(*types.AttributeValueMemberS)
	if !ok {
		return "", false
	}
	return v.Value, true
}

func (m *Monitor) get(ctx context.Context, id string) (item, error) {
	out, err := m.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(m.Table), Key: item{"workset_id": s(id)}})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

func condFailed(err error) bool {
	var c *types.ConditionalCheckFailedException
	return errors.As(err, &c)
}

// AcquireLock is acquire_lock(id, owner, force): a GetItem, the staleness
// judgement in the client, then one conditional UpdateItem. It reports whether
// the lock was acquired (false, nil is the deployed code's "not acquired").
func (m *Monitor) AcquireLock(ctx context.Context, id string, force bool) (bool, error) {
	it, err := m.get(ctx, id)
	if err != nil || it == nil {
		return false, err
	}
	state, _ := str(it, "state")
	if !force && state != "ready" && state != "retrying" {
		return false, nil
	}
	now := m.now()
	cond := "attribute_exists(workset_id) AND (attribute_not_exists(lock_owner) OR lock_owner = :owner)"
	values := item{":owner": s(m.Owner)}
	if holder, held := str(it, "lock_owner"); held && holder != m.Owner {
		stale := true
		if exp, ok := str(it, "lock_expires_at"); ok {
			if t, ok := parse(exp); ok {
				stale = !now.Before(t)
			}
		} else if acq, ok := str(it, "lock_acquired_at"); ok {
			if t, ok := parse(acq); ok {
				stale = now.Sub(t) >= m.timeout()
			}
		}
		if !stale && !force {
			return false, nil
		}
		if acq, ok := str(it, "lock_acquired_at"); ok {
			cond = "attribute_exists(workset_id) AND (attribute_not_exists(lock_owner) OR lock_owner = :owner OR lock_acquired_at = :stale_at)"
			values[":stale_at"] = s(acq)
		}
	}
	values[":now"] = s(Timestamp(now))
	values[":exp"] = s(Timestamp(now.Add(m.timeout())))
	if m.BeforeWrite != nil {
		m.BeforeWrite()
	}
	_, err = m.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(m.Table), Key: item{"workset_id": s(id)},
		UpdateExpression:          aws.String("SET lock_owner = :owner, lock_acquired_at = :now, lock_expires_at = :exp, updated_at = :now"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: values,
	})
	if condFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// RefreshLock is refresh_lock(id, owner).
func (m *Monitor) RefreshLock(ctx context.Context, id string) (bool, error) {
	now := m.now()
	_, err := m.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(m.Table), Key: item{"workset_id": s(id)},
		UpdateExpression:    aws.String("SET lock_acquired_at = :now, lock_expires_at = :exp, updated_at = :now"),
		ConditionExpression: aws.String("lock_owner = :owner"),
		ExpressionAttributeValues: item{":owner": s(m.Owner), ":now": s(Timestamp(now)),
			":exp": s(Timestamp(now.Add(m.timeout())))},
	})
	if condFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// ReleaseLock is release_lock(id, owner).
func (m *Monitor) ReleaseLock(ctx context.Context, id string) (bool, error) {
	_, err := m.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(m.Table), Key: item{"workset_id": s(id)},
		UpdateExpression:          aws.String("SET updated_at = :now REMOVE lock_owner, lock_acquired_at, lock_expires_at"),
		ConditionExpression:       aws.String("lock_owner = :owner"),
		ExpressionAttributeValues: item{":owner": s(m.Owner), ":now": s(Timestamp(m.now()))},
	})
	if condFailed(err) {
		return false, nil
	}
	return err == nil, err
}

func historyEntry(state, reason string, now time.Time, extra item) types.AttributeValue {
	e := item{"state": s(state), "timestamp": s(Timestamp(now)), "reason": s(reason)}
	for k, v := range extra {
		e[k] = v
	}
	return &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: e}}}
}

// UpdateState is update_state(id, state, reason, error_details): no transition
// rules, no lock check, history appended.
func (m *Monitor) UpdateState(ctx context.Context, id, state, reason, errorDetails string) error {
	now := m.now()
	expr := "SET #s = :s, updated_at = :now, state_history = list_append(if_not_exists(state_history, :empty), :h)"
	values := item{":s": s(state), ":now": s(Timestamp(now)), ":h": historyEntry(state, reason, now, nil),
		":empty": &types.AttributeValueMemberL{Value: []types.AttributeValue{}}}
	if errorDetails != "" {
		expr += ", error_details = :e"
		values[":e"] = s(errorDetails)
	}
	_, err := m.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(m.Table), Key: item{"workset_id": s(id)},
		UpdateExpression: aws.String(expr), ConditionExpression: aws.String("attribute_exists(workset_id)"),
		ExpressionAttributeNames: map[string]string{"#s": "state"}, ExpressionAttributeValues: values,
	})
	return err
}

// RecordFailure is record_failure(id, step, category, error): retry_count read,
// then written (not atomic), state retrying or failed.
func (m *Monitor) RecordFailure(ctx context.Context, id, step, category, message string) (string, error) {
	it, err := m.get(ctx, id)
	if err != nil || it == nil {
		return "", err
	}
	count, maxRetries := 0, 3
	if v, ok := it["retry_count"].(*types.AttributeValueMemberN); ok {
		count, _ = strconv.Atoi(v.Value)
	}
	if v, ok := it["max_retries"].(*types.AttributeValueMemberN); ok {
		maxRetries, _ = strconv.Atoi(v.Value)
	}
	count++
	now := m.now()
	state := "failed"
	retryAfter := types.AttributeValue(&types.AttributeValueMemberNULL{Value: true})
	if (category == "transient" || category == "resource") && count <= maxRetries {
		state = "retrying"
		retryAfter = s(Timestamp(now.Add(time.Duration(1<<min(count, 10)) * time.Minute)))
	}
	_, err = m.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(m.Table), Key: item{"workset_id": s(id)},
		UpdateExpression: aws.String("SET #s = :s, retry_count = :c, retry_after = :ra, error_category = :cat, failed_step = :step, " +
			"error_details = :e, updated_at = :now, state_history = list_append(if_not_exists(state_history, :empty), :h)"),
		ExpressionAttributeNames: map[string]string{"#s": "state"},
		ExpressionAttributeValues: item{":s": s(state), ":c": &types.AttributeValueMemberN{Value: strconv.Itoa(count)}, ":ra": retryAfter,
			":cat": s(category), ":step": s(step), ":e": s(message), ":now": s(Timestamp(now)),
			":h":     historyEntry(state, message, now, item{"error_category": s(category)}),
			":empty": &types.AttributeValueMemberL{Value: []types.AttributeValue{}}},
	})
	return state, err
}

// Archive is archive_workset(id, by, reason).
func (m *Monitor) Archive(ctx context.Context, id, by, reason string) error {
	it, err := m.get(ctx, id)
	if err != nil {
		return err
	}
	if it == nil {
		return fmt.Errorf("workset %s not found", id)
	}
	orig, _ := str(it, "state")
	now := m.now()
	_, err = m.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(m.Table), Key: item{"workset_id": s(id)},
		UpdateExpression: aws.String("SET #s = :s, archived_at = :now, archived_by = :by, archive_reason = :r, original_state = :o, " +
			"updated_at = :now, state_history = list_append(if_not_exists(state_history, :empty), :h)"),
		ExpressionAttributeNames: map[string]string{"#s": "state"},
		ExpressionAttributeValues: item{":s": s("archived"), ":now": s(Timestamp(now)), ":by": s(by), ":r": s(reason), ":o": s(orig),
			":h": historyEntry("archived", reason, now, nil), ":empty": &types.AttributeValueMemberL{Value: []types.AttributeValue{}}},
	})
	return err
}

// Restore is restore_workset(id, by): only from archived.
func (m *Monitor) Restore(ctx context.Context, id, by string) error {
	now := m.now()
	_, err := m.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(m.Table), Key: item{"workset_id": s(id)},
		UpdateExpression: aws.String("SET #s = :s, restored_at = :now, restored_by = :by, updated_at = :now, " +
			"state_history = list_append(if_not_exists(state_history, :empty), :h) REMOVE archived_at, archived_by, archive_reason"),
		ConditionExpression:      aws.String("#s = :archived"),
		ExpressionAttributeNames: map[string]string{"#s": "state"},
		ExpressionAttributeValues: item{":s": s("ready"), ":archived": s("archived"), ":now": s(Timestamp(now)), ":by": s(by),
			":h": historyEntry("ready", "restored", now, nil), ":empty": &types.AttributeValueMemberL{Value: []types.AttributeValue{}}},
	})
	return err
}

// Holder returns the lock_owner and lock_expires_at stored for id ("" when none).
func (m *Monitor) Holder(ctx context.Context, id string) (owner string, expires time.Time, err error) {
	it, err := m.get(ctx, id)
	if err != nil || it == nil {
		return "", time.Time{}, err
	}
	owner, _ = str(it, "lock_owner")
	if v, ok := str(it, "lock_expires_at"); ok {
		expires, _ = parse(v)
	}
	return owner, expires, nil
}
