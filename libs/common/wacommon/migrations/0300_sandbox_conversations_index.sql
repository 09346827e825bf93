-- The web sandbox's conversations ("Testar o bot", provider 'sandbox'): a handful per tenant.
-- The metrics rollup and its live view anti-join every event against them (an owner's tests
-- count in no customer figure, only in the cost); this index hands them over without reading
-- the whole conversations table. Days rolled up before this migration still count the sandbox:
-- `python -m metrics recompute --from D --to D` rebuilds them.
CREATE INDEX IF NOT EXISTS active_conversations_sandbox
    ON active_conversations (id) WHERE provider = 'sandbox';
