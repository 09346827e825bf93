-- Knowledge-base vectors move from real[] (0141) to pgvector's `vector`, so nearest-chunk search
-- is pgvector's cosine distance `<=>` in C instead of a dot product unnested row by row in SQL.
-- The server must offer the extension: `make infra` (scripts/pgvector.sh) builds it for a local
-- Debian PostgreSQL; deploy/docker-compose.yml uses the pgvector image; CloudNativePG creates it
-- at bootstrap. Without it, this migration stops with the message below instead of "type vector
-- does not exist" further down.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')
       AND NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        RAISE EXCEPTION 'migration 0250 needs the pgvector extension ("vector"), which this PostgreSQL server (version %) does not have. Install it, then run the migrations again: on a local Debian/Ubuntu server `make infra` (scripts/pgvector.sh builds it, as root); with the PGDG repository `apt-get install postgresql-%-pgvector`; with Docker the image pgvector/pgvector:pg%; a managed database: enable its pgvector extension and `CREATE EXTENSION vector` in database %',
            current_setting('server_version'),
            current_setting('server_version_num')::int / 10000,
            current_setting('server_version_num')::int / 10000,
            current_database()
            USING ERRCODE = 'feature_not_supported';
    END IF;
END
$$;
CREATE EXTENSION IF NOT EXISTS vector;

-- a vector of no component has no direction (pgvector refuses it); the chunk is embedded again
-- at the tenant's next import, like any chunk without a vector
DELETE FROM kb_embeddings WHERE cardinality(embedding) IS NULL OR cardinality(embedding) = 0;
ALTER TABLE kb_embeddings ALTER COLUMN embedding TYPE vector USING embedding::vector;

-- Models differ in length (OpenAI text-embedding-3-small 1536, Gemini here 768, compatible
-- servers often 1024), and an index needs one length: the column stays untyped, `dims` says the
-- length, and each common length has a partial HNSW index over the column cast to that length.
-- A search writes the same cast and `dims = N`, so the planner can use the index when a tenant
-- has enough rows for it to pay; other lengths are searched exactly, still with `<=>`.
ALTER TABLE kb_embeddings ADD COLUMN dims integer GENERATED ALWAYS AS (vector_dims(embedding)) STORED;
CREATE INDEX kb_embeddings_hnsw_1536 ON kb_embeddings
    USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WHERE dims = 1536;
CREATE INDEX kb_embeddings_hnsw_1024 ON kb_embeddings
    USING hnsw ((embedding::vector(1024)) vector_cosine_ops) WHERE dims = 1024;
CREATE INDEX kb_embeddings_hnsw_768 ON kb_embeddings
    USING hnsw ((embedding::vector(768)) vector_cosine_ops) WHERE dims = 768;
