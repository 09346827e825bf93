-- Built-in tools of the AI: calendar, CRM and the CEP cache. Every row belongs to a tenant.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE appointments (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id        uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    conversation_id  uuid,
    contact_key      text,
    contact_name     text,
    contact_phone    text,
    notes            text,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled')),
    cancel_reason    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    cancelled_at     timestamptz,
    CHECK (ends_at > starts_at),
    -- no double booking, even for concurrent transactions: booked slots of a tenant never overlap
    CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
        client_id WITH =, tstzrange(starts_at, ends_at) WITH &&
    ) WHERE (status = 'booked')
);
CREATE INDEX appointments_client_starts ON appointments (client_id, starts_at) WHERE status = 'booked';
CREATE INDEX appointments_client_conversation ON appointments (client_id, conversation_id);

CREATE TABLE leads (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id        uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    contact_key      text NOT NULL,
    conversation_id  uuid,
    name             text,
    phone            text,
    email            text,
    interest         text,
    stage            text,
    data             jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, contact_key)
);

CREATE TABLE lead_notes (
    id          bigserial PRIMARY KEY,
    client_id   uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    lead_id     uuid NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    note        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lead_notes_client_lead ON lead_notes (client_id, lead_id, created_at);

CREATE TABLE cep_cache (
    client_id   uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    cep         text NOT NULL,
    found       boolean NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}'::jsonb,
    fetched_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, cep)
);
