-- Agent delegation (RFC 8693 token exchange): a delegated grant is the
-- child of the grant it was exchanged from; revoking a grant revokes its
-- subtree. Rows go with either grant.
CREATE TABLE grant_delegations (
	child_id  text PRIMARY KEY REFERENCES grants (id) ON DELETE CASCADE,
	parent_id text NOT NULL REFERENCES grants (id) ON DELETE CASCADE
);
CREATE INDEX grant_delegations_parent ON grant_delegations (parent_id);

-- Budgets: one allocation per grant, in the host's smallest unit.
CREATE TABLE grant_budgets (
	grant_id  text PRIMARY KEY REFERENCES grants (id) ON DELETE CASCADE,
	initial   bigint NOT NULL,
	remaining bigint NOT NULL CHECK (remaining >= 0)
);

-- Client assertions used (RFC 7523 jti single use), until they expire.
CREATE TABLE client_assertions (
	key        text PRIMARY KEY,
	expires_at timestamptz NOT NULL
);
CREATE INDEX client_assertions_expires_at ON client_assertions (expires_at);
