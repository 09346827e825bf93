-- Every change to a tenant's row tells the services' TenantDirectory caches (LISTEN
-- tenant_config) which tenant to read again; the notification is sent at commit, so a
-- listener never reads the row before the change is visible.
CREATE OR REPLACE FUNCTION notify_tenant_config() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('tenant_config', OLD.id::text);
    ELSE
        PERFORM pg_notify('tenant_config', NEW.id::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER clients_notify_tenant_config
    AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION notify_tenant_config();
