-- Events the database refused (a value jsonb cannot hold, a bad id, ...): the buffered
-- event log sets each such row aside here with the error, so the rest of its batch lands.
-- Every column is text: whatever was refused must fit here as evidence.
CREATE TABLE event_log_rejects (
    id              bigserial PRIMARY KEY,
    client_id       text,
    conversation_id text,
    event_type      text NOT NULL,
    data            text NOT NULL,
    correlation_id  text,
    event_at        timestamptz,
    error           text NOT NULL,
    rejected_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_log_rejects_time ON event_log_rejects (rejected_at);
