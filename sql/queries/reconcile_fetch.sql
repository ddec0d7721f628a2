-- The next rows of the reconcile_cards cursor (reconcile_cursor.sql): 2,000, four
-- queries' worth.
FETCH 2000 FROM reconcile_cards
