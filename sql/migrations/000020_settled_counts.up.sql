-- The settled requests counted as they settle, so that `provisioner status` and the
-- metrics do not count millions of them at every call (issue 16, part 3: the count
-- of 10 million settled requests took seconds and grew with the history).
--
-- settled_counts holds deltas: each statement that settles, un-settles (retry),
-- changes (priority) or deletes (housekeeping) requests appends one row per state,
-- type and priority it changed, with the change of the count. The count is their
-- sum (sql/queries/queue_counts.sql). Appending, rather than updating one row per
-- group, keeps concurrent write-backs from waiting on each other's counter rows.
-- The rows are summed into one per group (sql/queries/compact_settled_counts.sql)
-- at the end of each processing run and by housekeeping, which keeps the table at
-- a few rows per write-back since.
CREATE TABLE settled_counts (
    life_cycle_state text   NOT NULL,
    type             text   NOT NULL,
    priority         text   NOT NULL,
    n                bigint NOT NULL
);

-- UPDATE and DELETE: once per statement, over its transition tables: a write-back
-- of 500 requests appends a few rows, not 500. Every UPDATE statement on the table
-- keeps its old and new rows for the trigger (a claim's 100 rows among them), and
-- the trigger reads them once.
CREATE FUNCTION settled_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO settled_counts (life_cycle_state, type, priority, n)
    SELECT s, t, p, sum(d)
    FROM (SELECT life_cycle_state AS s, type AS t, priority AS p, 1 AS d FROM new_rows WHERE life_cycle_state <> 'PENDING'
          UNION ALL
          SELECT life_cycle_state, type, priority, -1 FROM old_rows WHERE life_cycle_state <> 'PENDING') c
    GROUP BY s, t, p
    HAVING sum(d) <> 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION settled_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO settled_counts (life_cycle_state, type, priority, n)
    SELECT life_cycle_state, type, priority, -count(*)
    FROM old_rows
    WHERE life_cycle_state <> 'PENDING'
    GROUP BY life_cycle_state, type, priority;
    RETURN NULL;
END
$$;

-- INSERT: once per row, and only for a row inserted settled (tests, restores): the
-- importer's COPY and the Web API insert PENDING rows, for which the WHEN clause
-- queues nothing. A transition table would hold every row of a million-row COPY.
CREATE FUNCTION settled_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO settled_counts (life_cycle_state, type, priority, n)
    VALUES (NEW.life_cycle_state, NEW.type, NEW.priority, 1);
    RETURN NULL;
END
$$;

CREATE FUNCTION settled_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM settled_counts;
    RETURN NULL;
END
$$;

-- What is there now is counted under a lock that holds off every change to the
-- requests until the triggers are in place (one scan of the table: seconds at 10
-- million requests).
LOCK TABLE provisioning_requests IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER settled_counts_update AFTER UPDATE ON provisioning_requests
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION settled_counts_update();
CREATE TRIGGER settled_counts_delete AFTER DELETE ON provisioning_requests
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION settled_counts_delete();
CREATE TRIGGER settled_counts_insert AFTER INSERT ON provisioning_requests
    FOR EACH ROW WHEN (NEW.life_cycle_state <> 'PENDING') EXECUTE FUNCTION settled_counts_insert();
CREATE TRIGGER settled_counts_truncate AFTER TRUNCATE ON provisioning_requests
    FOR EACH STATEMENT EXECUTE FUNCTION settled_counts_truncate();

INSERT INTO settled_counts (life_cycle_state, type, priority, n)
SELECT life_cycle_state, type, priority, count(*)
FROM provisioning_requests
WHERE life_cycle_state <> 'PENDING'
GROUP BY life_cycle_state, type, priority;
