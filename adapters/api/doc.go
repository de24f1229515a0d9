// Package api is Baton's REST API under /api/v1, for other systems: start an
// instance of a flow with its form data and external references (a CRM deal
// id, a ticket URL), read an instance with its timeline and webhook
// deliveries, list instances by flow, status, requester, assignee and age,
// and decide, comment, cancel, withdraw, skip or retry on behalf of a
// person. The OpenAPI 3 description is
// served at /api/v1/openapi.json (openapi.json, embedded).
//
// Every other route needs a bearer token (Authorization: Bearer baton_…).
// Tokens are random (256 bits), shown once by `baton token create`, and kept
// only as their SHA-256; a token is looked up by its hash, then the hashes
// are compared in constant time. Scopes nest, admin ⊇ start ⊇ read:
//
//   - read: GET the flows, instances and one instance;
//   - start: also start instances, comment, and withdraw them (for their
//     requester);
//   - admin: also decide (approve, reject, request changes, mark done),
//     cancel, skip a step and retry a failed call.
//
// A token created with --person P acts as P only: on_behalf_of may be left
// out or must be P, and it reads and writes only the instances P may see
// (any other is not found, and a write to it records nothing). Any other
// token says on whose behalf it acts with on_behalf_of (required on writes),
// and the engine still decides whether that person may act (only a task's
// assignees, delegates, escalation targets or admins decide). Every event is
// sent with Via "api token NAME", so the audit trail names the token.
//
// Writes honour an Idempotency-Key header: the key is passed to the engine
// as the event's idempotency key (flows.Event.Key), scoped to the token and
// the method and path, with the hash of the body as canonical JSON
// (flows.Event.Fingerprint, kept with the outcome), so a repeat of the same
// request, however its JSON is spelled, returns the first response and
// changes nothing, and another request under the same key is refused (422
// idempotency_key_reused) and changes nothing. Errors are JSON
// ({"error": {"code", "message", "fields"}}): 401 without a valid token,
// 403 outside the token's scope or the person's rights, 404, 409 when the
// step was already decided, the request closed or not in a state for it, 413 for bodies over
// 64 KiB, 415 for a body that is not JSON, 422 for invalid input, field by
// field, or a reused Idempotency-Key, with nothing created. Tokens never reach the logs.
//
// api imports flows and bot (for request ids), nothing of storage and no
// other adapter; main adapts the storage to its small interfaces.
package api
