-- Knowledge base: per-tenant documents, their chunks (full-text indexed) and a spelling vocabulary.
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Portuguese stemming after accent folding, so "horário", "horario" and "HORARIOS" meet.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'pt_unaccent') THEN
        CREATE TEXT SEARCH CONFIGURATION pt_unaccent (COPY = portuguese);
        ALTER TEXT SEARCH CONFIGURATION pt_unaccent
            ALTER MAPPING FOR hword, hword_part, word WITH unaccent, portuguese_stem;
    END IF;
END
$$;

CREATE TABLE kb_documents (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id     uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    name          text NOT NULL,
    source_kind   text NOT NULL CHECK (source_kind IN ('txt', 'md', 'pdf', 'csv', 'html')),
    -- sha256 of the uploaded bytes: a re-upload of the same file is visible as such
    content_hash  text NOT NULL,
    chunk_count   integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, name)
);

CREATE TABLE kb_chunks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id    uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    document_id  uuid NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
    ordinal      integer NOT NULL,
    -- the section title the chunk sits under (markdown/html heading, the question of a Q/A row)
    heading      text NOT NULL DEFAULT '',
    text         text NOT NULL,
    tsv          tsvector GENERATED ALWAYS AS (
                     setweight(to_tsvector('pt_unaccent', heading), 'A')
                     || setweight(to_tsvector('pt_unaccent', text), 'B')) STORED,
    UNIQUE (document_id, ordinal)
);
CREATE INDEX kb_chunks_tsv ON kb_chunks USING gin (tsv);
CREATE INDEX kb_chunks_client ON kb_chunks (client_id);

-- Words of the tenant's documents (unaccented): customers' misspellings are matched against them.
CREATE TABLE kb_terms (
    client_id    uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    document_id  uuid NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
    term         text NOT NULL,
    PRIMARY KEY (document_id, term)
);
CREATE INDEX kb_terms_client_term ON kb_terms (client_id, term);
CREATE INDEX kb_terms_trgm ON kb_terms USING gin (term gin_trgm_ops);
