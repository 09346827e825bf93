-- Dense vectors of knowledge-base chunks (issue 14), one per chunk and embedding model, written
-- at import when the tenant has an embedding-capable key. pgvector is not packaged for
-- PostgreSQL 15 on Debian 12 (neither bookworm nor bookworm-backports), so a vector is a real[]
-- of unit length and similarity is a dot product over one tenant's chunks (hundreds, not
-- millions); moving to pgvector's `vector` type is this table's column type and one index.
CREATE TABLE kb_embeddings (
    chunk_id    bigint NOT NULL REFERENCES kb_chunks(id) ON DELETE CASCADE,
    client_id   uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    model       text NOT NULL,
    embedding   real[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chunk_id, model)
);
CREATE INDEX kb_embeddings_client_model ON kb_embeddings (client_id, model);
