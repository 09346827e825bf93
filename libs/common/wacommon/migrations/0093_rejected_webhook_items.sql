-- One item of a provider webhook the pipeline could not take (a value the database
-- refuses, a message it cannot parse): kept with the error, while the webhook's other
-- items are processed as usual. Every column is text: the item must fit here as evidence.
CREATE TABLE rejected_webhook_items (
    id                  bigserial PRIMARY KEY,
    client_id           text,
    provider            text NOT NULL,
    provider_message_id text,
    correlation_id      text,
    item                text NOT NULL,
    error               text NOT NULL,
    rejected_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejected_webhook_items_time ON rejected_webhook_items (rejected_at);
