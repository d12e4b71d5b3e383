// Package schema names the stored attributes the SDK manages itself: the
// deployed table's attributes and the SDK's own. Workset.Attributes may not
// carry them.
package schema

import (
	"maps"
	"slices"
)

var modeled = map[string]bool{
	"workset_id": true, "state": true, "priority": true, "bucket": true, "prefix": true,
	"created_at": true, "updated_at": true, "state_history": true, "metadata": true,
	"lock_owner": true, "lock_acquired_at": true, "lock_expires_at": true,
	"error_details": true, "error_category": true, "cluster_name": true, "metrics": true,
	"version": true, "lease_token": true, "lease_expires_ms": true, "lease_lock_expires_at": true, "last_op": true, "sdk_state": true,
	"retry_count": true, "retry_after": true, "failed_step": true, "max_retries": true,
}

// IsModeled reports whether name is an attribute the SDK manages itself.
func IsModeled(name string) bool { return modeled[name] }

// Modeled returns the sorted names of the attributes the SDK manages.
func Modeled() []string { return slices.Sorted(maps.Keys(modeled)) }
