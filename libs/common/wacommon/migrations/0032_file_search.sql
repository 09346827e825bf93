-- Gemini File Search: a tenant's remote store, and each document's copy in it.
CREATE TABLE kb_file_search (
    client_id   uuid PRIMARY KEY REFERENCES clients(id) ON DELETE CASCADE,
    -- "fileSearchStores/..." as the Gemini API named it
    store_name  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- the remote document ("fileSearchStores/.../documents/...") and the content hash it holds;
-- a failed sync leaves the local document searchable and says why here
ALTER TABLE kb_documents ADD COLUMN fs_document text;
ALTER TABLE kb_documents ADD COLUMN fs_content_hash text;
ALTER TABLE kb_documents ADD COLUMN fs_synced_at timestamptz;
ALTER TABLE kb_documents ADD COLUMN fs_error text;

-- remote documents whose removal failed (the local row may be gone): retried on later syncs
CREATE TABLE kb_file_search_orphans (
    client_id      uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    document_name  text NOT NULL,
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, document_name)
);
