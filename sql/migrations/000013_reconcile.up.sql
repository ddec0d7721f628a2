-- Reconciliation runs (issue 14): the CRM's expected state of each card, the record
-- of each run, and the run as the source of the corrections it created.

-- The CRM's whole view of a card, from entitlements.csv (reference/entitlements.go).
-- A card without a row is not reconciled. Products and the STB are kept by id, checked
-- when the file is loaded; the reconciliation maps them to CA ids in memory.
CREATE TABLE entitlements (
    smartcard_id bigint      PRIMARY KEY REFERENCES installed_items (id),
    product_ids  bigint[]    NOT NULL DEFAULT '{}',
    -- The STB the card should be paired with; NULL: none.
    stb_id       bigint      REFERENCES installed_items (id),
    -- false when the file had no stb_serial_number column: pairing is not reconciled.
    stb_checked  boolean     NOT NULL DEFAULT true,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reconcile_runs (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- all, subscription S1001, smartcards SC1,SC2 (cut short), file cards.txt
    scope              text        NOT NULL,
    dry_run            boolean     NOT NULL DEFAULT false,
    host               text        NOT NULL,
    pid                integer     NOT NULL,
    -- RUNNING until it ends. SUCCEEDED; CAPPED: the corrections were over
    -- --max-corrections and nothing was created (exit 3); FAILED: an error.
    state              text        NOT NULL DEFAULT 'RUNNING'
                       CHECK (state IN ('RUNNING', 'SUCCEEDED', 'CAPPED', 'FAILED', 'INTERRUPTED')),
    checked            integer     NOT NULL DEFAULT 0,
    in_sync            integer     NOT NULL DEFAULT 0,
    drifted            integer     NOT NULL DEFAULT 0,
    missing_products   integer     NOT NULL DEFAULT 0,
    extra_products     integer     NOT NULL DEFAULT 0,
    wrong_pairing      integer     NOT NULL DEFAULT 0,
    missing_pairing    integer     NOT NULL DEFAULT 0,
    extra_pairing      integer     NOT NULL DEFAULT 0,
    busy               integer     NOT NULL DEFAULT 0,
    unknown            integer     NOT NULL DEFAULT 0,
    disabled           integer     NOT NULL DEFAULT 0,
    -- Drift the instruction rules refused to correct (the report says why).
    uncorrectable      integer     NOT NULL DEFAULT 0,
    -- Requests created: 0 for a dry, capped or failed run (the report has the rest).
    corrections        integer     NOT NULL DEFAULT 0,
    report             text,
    error              text,
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz
);
CREATE INDEX reconcile_runs_latest ON reconcile_runs (started_at DESC);

-- A correction's source: the reconciliation run that created it. No foreign key, as
-- for the file and the token (000001, 000005).
ALTER TABLE provisioning_requests ADD COLUMN source_reconcile_run_id bigint;
CREATE INDEX provisioning_requests_source_reconcile_run ON provisioning_requests (source_reconcile_run_id)
    WHERE source_reconcile_run_id IS NOT NULL;
