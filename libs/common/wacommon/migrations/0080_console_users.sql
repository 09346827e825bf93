-- Console users: operators (every tenant, client_id NULL), owners and agents (one tenant each).
CREATE TABLE console_users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id       uuid NULL REFERENCES clients(id) ON DELETE CASCADE,
    email           text NOT NULL,
    name            text NOT NULL,
    password_hash   text NOT NULL,
    role            text NOT NULL CHECK (role IN ('operator', 'owner', 'agent')),
    is_active       boolean NOT NULL DEFAULT true,
    -- an owner's personal WhatsApp number (E.164 digits) for handover alerts
    alert_whatsapp  text NULL,
    notify_sound    boolean NOT NULL DEFAULT true,
    locale          text NOT NULL DEFAULT 'pt-BR' CHECK (locale IN ('pt-BR', 'en')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz NULL,
    -- operators belong to no tenant; everyone else to exactly one
    CONSTRAINT console_users_tenant_by_role CHECK ((role = 'operator') = (client_id IS NULL))
);

CREATE UNIQUE INDEX console_users_email_key ON console_users (lower(email));
CREATE INDEX console_users_client_idx ON console_users (client_id, lower(email));
