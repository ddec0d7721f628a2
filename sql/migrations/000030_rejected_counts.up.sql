-- The rejected requests counted by the minute of their rejection and their error
-- code as they are rejected, so that `provisioner status` (its errors of the last
-- day, sql/queries/top_errors.sql) does not read every request rejected in the last
-- 24 hours: at 10 million requests each is a page read (86,000 rejections in a day
-- of the history bench: 1 to 11 s, from the OS cache or the disk).
--
-- Deltas, as settled_counts (migration 000020): each statement that rejects,
-- un-rejects (retry) or deletes (housekeeping) rejected requests appends one row
-- per minute and error code it changed, with the change of the count ('' for no
-- code). The count is their sum. Summed with the settled counts
-- (compact_settled_counts.sql), which also drops the minutes more than two days
-- old: status looks back one day.
CREATE TABLE rejected_counts (
    minute     timestamptz NOT NULL,
    error_code text        NOT NULL,
    n          bigint      NOT NULL
);

-- The minute in UTC whatever the session's time zone, so that the triggers and the
-- query agree.
CREATE FUNCTION rejected_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rejected_counts (minute, error_code, n)
    SELECT m, c, sum(d)
    FROM (SELECT date_trunc('minute', executed_date, 'UTC') AS m, coalesce(error_code, '') AS c, 1 AS d
          FROM new_rows WHERE life_cycle_state = 'REJECTED' AND executed_date IS NOT NULL
          UNION ALL
          SELECT date_trunc('minute', executed_date, 'UTC'), coalesce(error_code, ''), -1
          FROM old_rows WHERE life_cycle_state = 'REJECTED' AND executed_date IS NOT NULL) r
    GROUP BY m, c
    HAVING sum(d) <> 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION rejected_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rejected_counts (minute, error_code, n)
    SELECT date_trunc('minute', executed_date, 'UTC'), coalesce(error_code, ''), -count(*)
    FROM old_rows
    WHERE life_cycle_state = 'REJECTED' AND executed_date IS NOT NULL
    GROUP BY 1, 2;
    RETURN NULL;
END
$$;

-- INSERT: per row, only for a row inserted REJECTED (tests, restores), as
-- settled_counts_insert.
CREATE FUNCTION rejected_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rejected_counts (minute, error_code, n)
    VALUES (date_trunc('minute', NEW.executed_date, 'UTC'), coalesce(NEW.error_code, ''), 1);
    RETURN NULL;
END
$$;

CREATE FUNCTION rejected_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM rejected_counts;
    RETURN NULL;
END
$$;

-- What is there now, under a lock that holds off every change to the requests until
-- the triggers are in place: the last two days' rejections, through
-- provisioning_requests_rejected.
LOCK TABLE provisioning_requests IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER rejected_counts_update AFTER UPDATE ON provisioning_requests
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rejected_counts_update();
CREATE TRIGGER rejected_counts_delete AFTER DELETE ON provisioning_requests
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rejected_counts_delete();
CREATE TRIGGER rejected_counts_insert AFTER INSERT ON provisioning_requests
    FOR EACH ROW WHEN (NEW.life_cycle_state = 'REJECTED' AND NEW.executed_date IS NOT NULL)
    EXECUTE FUNCTION rejected_counts_insert();
CREATE TRIGGER rejected_counts_truncate AFTER TRUNCATE ON provisioning_requests
    FOR EACH STATEMENT EXECUTE FUNCTION rejected_counts_truncate();

INSERT INTO rejected_counts (minute, error_code, n)
SELECT date_trunc('minute', executed_date, 'UTC'), coalesce(error_code, ''), count(*)
FROM provisioning_requests
WHERE life_cycle_state = 'REJECTED' AND executed_date >= now() - interval '2 days'
GROUP BY 1, 2;
