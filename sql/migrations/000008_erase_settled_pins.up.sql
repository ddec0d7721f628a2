-- A SET_PIN's PIN is a customer secret the provisioner needs only until the gateway
-- has settled the request: once it is COMPLETED or REJECTED, the PIN is erased from
-- the row (pin NULL) and from the raw command kept in `request` ("pin":"****"). A
-- retry of a REJECTED SET_PIN then needs the PIN again (`requests retry --pin`).
--
-- A trigger, not a clause of write_back.sql: every statement that settles a request
-- (the run's write-back today, any other tomorrow) erases the PIN without having to
-- remember to. Its WHEN clause is tested by the server without calling the
-- function, so the write-back of other types costs nothing more.
CREATE FUNCTION provisioning_requests_erase_pin() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.pin := NULL;
    -- The command as the dispatcher marshals it (casapi.Command): compact JSON,
    -- "pin":"dddd". The PIN is 4 digits, so no escaped quote can be in it.
    NEW.request := regexp_replace(NEW.request, '"pin":"[^"]*"', '"pin":"****"', 'g');
    RETURN NEW;
END
$$;

CREATE TRIGGER provisioning_requests_erase_pin
    BEFORE INSERT OR UPDATE ON provisioning_requests
    FOR EACH ROW
    WHEN (NEW.type = 'SET_PIN' AND NEW.life_cycle_state IN ('COMPLETED', 'REJECTED')
          AND (NEW.pin IS NOT NULL OR NEW.request LIKE '%"pin":"%'))
    EXECUTE FUNCTION provisioning_requests_erase_pin();

-- The requests settled before this migration.
UPDATE provisioning_requests
SET pin = NULL
WHERE type = 'SET_PIN' AND life_cycle_state IN ('COMPLETED', 'REJECTED')
  AND (pin IS NOT NULL OR request LIKE '%"pin":"%');
