-- Cheap periodic scans of the pipeline's recovery paths.
CREATE INDEX IF NOT EXISTS chat_messages_buffered ON chat_messages (client_id, conversation_id)
    WHERE status = 'buffered';
CREATE INDEX IF NOT EXISTS chat_messages_outbox_pending ON chat_messages (updated_at)
    WHERE direction = 'out' AND status = 'pending';
