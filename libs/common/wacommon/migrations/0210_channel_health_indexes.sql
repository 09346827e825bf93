-- The console's channels page (`/canais`) shows, per provider instance, its last inbound
-- message, its last send and its last failed send. Each is the first entry of a backward scan
-- of one of these indexes instead of a read of every message of the tenant.
CREATE INDEX IF NOT EXISTS chat_messages_instance_time
    ON chat_messages (provider_instance_id, direction, created_at)
    WHERE provider_instance_id IS NOT NULL;
-- failures are rare: a partial index keeps "the last one" cheap without scanning sends
CREATE INDEX IF NOT EXISTS chat_messages_instance_failed
    ON chat_messages (provider_instance_id, failed_at)
    WHERE provider_instance_id IS NOT NULL AND failed_at IS NOT NULL;
