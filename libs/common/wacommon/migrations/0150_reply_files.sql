-- Files the bot may send as they are (a menu PDF, a price-table image), besides their text
-- in kb_chunks: a PDF document uploaded to the knowledge base keeps its bytes here
-- (document_id), an image is uploaded on its own with a description. A send copies the
-- bytes to outbound_media, the path every stored file takes to the provider.
CREATE TABLE IF NOT EXISTS kb_files (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id    uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    name         text NOT NULL,
    mime_type    text NOT NULL,
    description  text NOT NULL DEFAULT '',
    data         bytea NOT NULL,
    document_id  uuid REFERENCES kb_documents(id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, name)
);
