-- Every change an owner or operator makes in the console's bot settings: who, when, which
-- section, and the section before and after (secrets masked: the values here are what the
-- settings page showed, never a key).
CREATE TABLE settings_changes (
    id              bigserial PRIMARY KEY,
    client_id       uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    section         text NOT NULL,
    -- no foreign key: the history outlives a deleted account, so its name is kept too
    changed_by      uuid NULL,
    changed_by_name text NOT NULL DEFAULT '',
    changed_by_role text NOT NULL DEFAULT '',
    before          jsonb NOT NULL,
    after           jsonb NOT NULL,
    -- fields whose secret changed (the masked values alone would not show it)
    secrets_changed text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX settings_changes_client_idx ON settings_changes (client_id, created_at DESC, id DESC);
