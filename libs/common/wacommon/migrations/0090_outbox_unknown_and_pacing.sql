-- Issue 16 (never twice, never lost).
-- A sender claims an outbox row (pending -> sending) only after its rate-limit / pacing wait;
-- while it waits, `paced_until` tells the relay and other senders that a live sender will
-- take the row by then (a hint, never a lock: the claim alone decides who sends).
ALTER TABLE chat_messages ADD COLUMN IF NOT EXISTS paced_until timestamptz;

-- The relay's sweep of rows left `sending` (a sender died mid-send, a command was lost).
CREATE INDEX IF NOT EXISTS chat_messages_outbox_sending ON chat_messages (updated_at)
    WHERE direction = 'out' AND status = 'sending';

-- `unknown`: a send to a provider with no delivery callback (Uazapi, LancePilot) whose
-- outcome nobody knows; it is never resent, a person decides (the console inbox lists them).
CREATE INDEX IF NOT EXISTS chat_messages_outbox_unknown ON chat_messages (client_id, updated_at)
    WHERE direction = 'out' AND status = 'unknown';
