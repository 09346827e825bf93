-- When the `msg_sent` event of an outbound row was written (by the sender's record, or by the
-- reconciliation of an echoed send). A record retried after a commit whose answer was lost
-- (a statement timeout or a cut connection after the server committed) finds it set and
-- writes no second event. Nullable with no default: adding it rewrites nothing.
ALTER TABLE chat_messages ADD COLUMN IF NOT EXISTS sent_event_at timestamptz;
