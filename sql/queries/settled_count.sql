-- How many settled requests are in the states $1, of the types $2 and the
-- priorities $3 (text[]; NULL: any), from their counts (migration 000020): a count of
-- millions without reading them. ops.CountUpTo answers "more than the cap" from it
-- at once for a filter of those alone (state=COMPLETED, type=PAIR), whose count
-- otherwise reads a row for each match up to the cap (a type: a tenth of every
-- request read to count 10,001).
SELECT coalesce(sum(n), 0)::bigint
FROM settled_counts
WHERE ($1::text[] IS NULL OR life_cycle_state = ANY ($1::text[]))
  AND ($2::text[] IS NULL OR type = ANY ($2::text[]))
  AND ($3::text[] IS NULL OR priority = ANY ($3::text[]))
