-- One number, one tenant: inbound routing picks a single active instance per route key
-- (Meta phone_number_id, then the display number), so two active owners meant one silently
-- lost its messages. Existing duplicates are not a reason to fail the deploy: the instance
-- routing already chose (default first, then oldest) stays active, the others are switched
-- off with the reason in last_error (visible in GET /admin/clients/{id}/providers) and a
-- WARNING names how many, so an operator can reassign them.
DO $$
DECLARE
    n integer;
BEGIN
    WITH ranked AS (
        SELECT id, row_number() OVER (
                   PARTITION BY provider_type, external_id
                   ORDER BY is_default DESC, created_at, id) AS rank
        FROM client_providers
        WHERE is_active AND external_id IS NOT NULL
    )
    UPDATE client_providers p
       SET is_active = false, is_default = false, updated_at = now(),
           last_error = 'deactivated by migration 0096: another active instance has this external id'
      FROM ranked r
     WHERE p.id = r.id AND r.rank > 1;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        RAISE WARNING '0096: % provider instance(s) shared an external id and were deactivated', n;
    END IF;

    WITH ranked AS (
        SELECT id, row_number() OVER (
                   PARTITION BY provider_type, phone_number
                   ORDER BY is_default DESC, created_at, id) AS rank
        FROM client_providers
        WHERE is_active AND provider_type = 'meta' AND phone_number IS NOT NULL
    )
    UPDATE client_providers p
       SET is_active = false, is_default = false, updated_at = now(),
           last_error = 'deactivated by migration 0096: another active Meta instance has this display number'
      FROM ranked r
     WHERE p.id = r.id AND r.rank > 1;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        RAISE WARNING '0096: % Meta instance(s) shared a display number and were deactivated', n;
    END IF;
END $$;

-- the names are what the admin API maps to a 409 (wacommon.repositories.providers.RouteTaken)
CREATE UNIQUE INDEX client_providers_route_unique
    ON client_providers (provider_type, external_id) WHERE is_active AND external_id IS NOT NULL;
CREATE UNIQUE INDEX client_providers_phone_unique
    ON client_providers (provider_type, phone_number)
    WHERE is_active AND provider_type = 'meta' AND phone_number IS NOT NULL;
DROP INDEX IF EXISTS client_providers_route;
