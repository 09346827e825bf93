-- Foundation schema. Table names follow the system we replace; columns are ours.
CREATE EXTENSION IF NOT EXISTS unaccent;

CREATE TABLE clients (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name               text NOT NULL,
    system_prompt      text NOT NULL DEFAULT '',
    bot_active         boolean NOT NULL DEFAULT true,
    timezone           text NOT NULL DEFAULT 'America/Sao_Paulo',
    tools_config       jsonb NOT NULL DEFAULT '{}'::jsonb,
    followup_config    jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- seconds a human handover lasts without a human message; NULL = until resumed
    human_attendant_timeout integer DEFAULT 3600,
    -- sha256 of the tenant's dashboard/API key (never the key itself)
    api_key_hash       text UNIQUE,
    -- legacy columns kept so data of the system we replace migrates as is
    token              text UNIQUE,
    api_url            text,
    whatsapp_provider  text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE client_providers (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id       uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    provider_type   text NOT NULL CHECK (provider_type IN ('meta', 'lancepilot', 'uazapi')),
    instance_name   text NOT NULL DEFAULT 'Principal',
    -- provider keys as the system we replace stored them; secret values encrypted ("enc:...")
    config          jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- what an inbound webhook is routed by: meta phone_id, uazapi/lancepilot number
    external_id     text,
    phone_number    text,
    -- the unguessable part of this instance's webhook URL (uazapi, lancepilot)
    webhook_secret  text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''),
    is_active       boolean NOT NULL DEFAULT true,
    is_default      boolean NOT NULL DEFAULT false,
    healthy         boolean NOT NULL DEFAULT true,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, provider_type, instance_name)
);
CREATE INDEX client_providers_client ON client_providers (client_id, provider_type) WHERE is_active;
CREATE INDEX client_providers_route ON client_providers (provider_type, external_id) WHERE is_active;
CREATE INDEX client_providers_phone ON client_providers (provider_type, phone_number) WHERE is_active;

CREATE TABLE active_conversations (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id                 uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    contact_key               text NOT NULL,
    contact_phone             text,
    contact_name              text,
    provider                  text NOT NULL,
    provider_instance_id      uuid REFERENCES client_providers(id) ON DELETE SET NULL,
    state                     text NOT NULL DEFAULT 'bot'
                              CHECK (state IN ('bot', 'human', 'opted_out', 'closed')),
    state_since               timestamptz NOT NULL DEFAULT now(),
    state_reason              text,
    -- when a timed handover ends on its own
    state_until               timestamptz,
    last_message_at           timestamptz,
    last_customer_message_at  timestamptz,
    last_bot_message_at       timestamptz,
    last_human_message_at     timestamptz,
    last_role                 text,
    -- history before this instant is ignored by the model (#reset)
    context_reset_at          timestamptz,
    followup_stage            integer NOT NULL DEFAULT 0,
    followup_due_at           timestamptz,
    attributes                jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, contact_key)
);
CREATE INDEX active_conversations_state ON active_conversations (client_id, state);
CREATE INDEX active_conversations_handover_due ON active_conversations (state_until)
    WHERE state = 'human' AND state_until IS NOT NULL;
CREATE INDEX active_conversations_followup_due ON active_conversations (followup_due_at)
    WHERE followup_due_at IS NOT NULL AND state = 'bot';

CREATE TABLE chat_messages (
    id                    bigserial PRIMARY KEY,
    client_id             uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    conversation_id       uuid NOT NULL REFERENCES active_conversations(id) ON DELETE CASCADE,
    direction             text NOT NULL CHECK (direction IN ('in', 'out')),
    role                  text NOT NULL CHECK (role IN ('customer', 'bot', 'human', 'campaign', 'system')),
    provider              text NOT NULL,
    provider_instance_id  uuid,
    provider_message_id   text,
    kind                  text NOT NULL DEFAULT 'text',
    content               text NOT NULL DEFAULT '',
    media                 jsonb,
    -- outbound: what to send (provider-neutral body); inbound: parsed attributes
    payload               jsonb NOT NULL DEFAULT '{}'::jsonb,
    raw                   jsonb,
    status                text NOT NULL DEFAULT 'received',
    error_code            text,
    error_detail          text,
    reply_to              text,
    -- outbound idempotency: the same reply is never stored (or sent) twice
    idempotency_key       text UNIQUE,
    burst_id              text,
    attempts              integer NOT NULL DEFAULT 0,
    sent_at               timestamptz,
    delivered_at          timestamptz,
    read_at               timestamptz,
    failed_at             timestamptz,
    provider_sent_at      timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX chat_messages_provider_id ON chat_messages (provider, provider_message_id);
CREATE INDEX chat_messages_conversation ON chat_messages (conversation_id, created_at);
CREATE INDEX chat_messages_client_time ON chat_messages (client_id, created_at);

-- Append-only event log (ADR-003), one partition per month.
CREATE TABLE conversation_events (
    id               bigserial,
    client_id        uuid NOT NULL,
    conversation_id  uuid,
    event_type       text NOT NULL,
    data             jsonb NOT NULL DEFAULT '{}'::jsonb,
    correlation_id   text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- the inserting transaction: lets the aggregator advance only past committed rows
    xact_id          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE conversation_events_default PARTITION OF conversation_events DEFAULT;
CREATE INDEX conversation_events_client_time ON conversation_events (client_id, created_at);
CREATE INDEX conversation_events_id ON conversation_events (id);

-- Creates the monthly partitions around now; called by migrations and at service start-up.
CREATE OR REPLACE FUNCTION ensure_event_partitions(months_back int, months_ahead int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m date;
    part text;
BEGIN
    FOR i IN -months_back..months_ahead LOOP
        m := (date_trunc('month', now()) + make_interval(months => i))::date;
        part := format('conversation_events_%s', to_char(m, 'YYYYMM'));
        IF to_regclass(part) IS NULL THEN
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF conversation_events FOR VALUES FROM (%L) TO (%L)',
                    part, m, (m + interval '1 month')::date);
            EXCEPTION WHEN duplicate_table THEN NULL;
            END;
        END IF;
    END LOOP;
END $$;
SELECT ensure_event_partitions(3, 3);

CREATE TABLE metrics_daily (
    client_id               uuid NOT NULL,
    day                     date NOT NULL,
    conversations           integer NOT NULL DEFAULT 0,
    messages_in             integer NOT NULL DEFAULT 0,
    messages_out_bot        integer NOT NULL DEFAULT 0,
    messages_out_human      integer NOT NULL DEFAULT 0,
    resolved_by_ai          integer NOT NULL DEFAULT 0,
    resolved_by_human       integer NOT NULL DEFAULT 0,
    human_takeovers         integer NOT NULL DEFAULT 0,
    followups_sent          integer NOT NULL DEFAULT 0,
    followups_converted     integer NOT NULL DEFAULT 0,
    response_count          integer NOT NULL DEFAULT 0,
    response_time_sum_ms    bigint NOT NULL DEFAULT 0,
    response_time_p90_ms    integer,
    resolution_count        integer NOT NULL DEFAULT 0,
    resolution_time_sum_ms  bigint NOT NULL DEFAULT 0,
    tools_used              jsonb NOT NULL DEFAULT '{}'::jsonb,
    failed_sends            jsonb NOT NULL DEFAULT '{}'::jsonb,
    cost_usd                numeric(12, 6) NOT NULL DEFAULT 0,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, day)
);

-- Webhooks for a number no tenant owns: kept so an operator can replay them later.
CREATE TABLE unrouted_webhooks (
    id           bigserial PRIMARY KEY,
    provider     text NOT NULL,
    route_key    text,
    body         text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    replayed_at  timestamptz
);
CREATE INDEX unrouted_webhooks_pending ON unrouted_webhooks (provider, route_key) WHERE replayed_at IS NULL;
