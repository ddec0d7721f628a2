-- What a filter's names and ranges stand for, resolved before the filter's query
-- (ops.Filter, filter_requests.sql), so that the planner sees constants rather than
-- subqueries whose results it cannot know (it took the file's subquery for any
-- file, and walked the number index past 2.5 million requests for one of 5,000):
-- $1 a smartcard (CA id or serial number: '' for none) -> the CA ids it may be;
-- $2 a subscription number -> its id; $3 an import file (id, recorded name) and $4
-- the LIKE pattern of the names the inbox stamps for a dropped name -> their ids;
-- $5 created since, $6 the earlier of created and executed until (NULL: none) ->
-- the lowest and the highest number a match can have (0: no bound), the lowest at
-- and above which every request was created since $5, and the highest at and below
-- which every request was created before $6 (0: none); $8 the gateway's
-- reference number ('' for none) -> the lowest and highest number of the requests
-- that carry it (NULL: none does).
--
-- The reference's bounds: a reference names one request (at most a few), found
-- through its own index; with them the filter walks the number index over those
-- numbers only. Left to itself the planner walked the number index from the
-- oldest request, testing each row, whenever its statistics put the reference on
-- more rows than it is (measured: 294 ms for a reference nobody had, on 104,000
-- requests, all of them read). min(number + 0) keeps the planner from turning the
-- aggregate into that same walk in number order.
--
-- The number bounds: numbers follow creation time up to the length of the
-- transaction that created the request ($7, ops.CreateSkew). A request created at t
-- was inserted (its number drawn) at w, t <= w <= t + $7, and w grows with the
-- number. So if request n was created before $5 - $7, it was inserted before $5, and
-- so was every request numbered below it: none of them was created at or after $5.
-- Likewise if request n was created at or after $6 + $7, every request numbered above
-- it was created at or after $6 (and settled after it). Each bound is found by a
-- binary search on the number index (about 24 probes of one row each for 10 million
-- requests: a millisecond or two), not by an index of the creation time; a probe that
-- lands among requests out of order only makes the bound looser, never wrong.
-- The same argument gives two more numbers, number_sure and number_sure_until: if
-- request n was created at or after $5 + $7, every request numbered at or above it
-- was created at or after $5; if it was created before $6 - $7, every request
-- numbered at or below it was created before $6. Between them the creation time need
-- not be read to know a request in the range: a count there can be taken from an
-- index without the table (ops.CountUpTo).
WITH RECURSIVE
ends AS (
    SELECT (SELECT number FROM provisioning_requests ORDER BY number LIMIT 1) AS first,
           (SELECT number FROM provisioning_requests ORDER BY number DESC LIMIT 1) AS last
),
-- lo: for each time t, the first request at or after number a was created before
-- t - $7: k = 1 for $5 (number_from), k = 2 for $6 (number_sure_until).
lo (k, t, a, b) AS (
    SELECT k, t, first, last + 1 FROM ends, unnest(ARRAY[$5::timestamptz, $6::timestamptz]) WITH ORDINALITY AS x (t, k)
    WHERE t IS NOT NULL AND first IS NOT NULL
      AND (SELECT created_at FROM provisioning_requests WHERE number = first) < t - $7::interval
    UNION ALL
    SELECT s.k, s.t, CASE WHEN p.created_at < s.t - $7::interval THEN s.m ELSE s.a END,
           CASE WHEN p.created_at < s.t - $7::interval THEN s.b ELSE s.m END
    FROM (SELECT k, t, a, b, (a + b) / 2 AS m FROM lo WHERE b - a > 1) s,
         LATERAL (SELECT created_at FROM provisioning_requests WHERE number >= s.m ORDER BY number LIMIT 1) p
),
-- hi: for each time t, the first request at or after number b was created at or
-- after t + $7: k = 1 for $6 (number_to), k = 2 for $5 (number_sure).
hi (k, t, a, b) AS (
    SELECT k, t, first - 1, last FROM ends, unnest(ARRAY[$6::timestamptz, $5::timestamptz]) WITH ORDINALITY AS x (t, k)
    WHERE t IS NOT NULL AND first IS NOT NULL
      AND (SELECT created_at FROM provisioning_requests WHERE number = last) >= t + $7::interval
    UNION ALL
    SELECT s.k, s.t, CASE WHEN p.created_at >= s.t + $7::interval THEN s.a ELSE s.m END,
           CASE WHEN p.created_at >= s.t + $7::interval THEN s.m ELSE s.b END
    FROM (SELECT k, t, a, b, (a + b) / 2 AS m FROM hi WHERE b - a > 1) s,
         LATERAL (SELECT created_at FROM provisioning_requests WHERE number >= s.m ORDER BY number LIMIT 1) p
)
SELECT CASE WHEN $1::text = '' THEN NULL ELSE
            array_remove(ARRAY[$1::text, (SELECT i.ca_id FROM installed_items i
                                          WHERE i.serial_number = $1::text AND i.kind = 'SMARTCARD')], NULL) END AS smartcards,
       (SELECT x.id FROM subscriptions x WHERE x.number = $2::text) AS subscription,
       CASE WHEN $3::text = '' THEN NULL ELSE
            coalesce((SELECT array_agg(g.id ORDER BY g.id) FROM import_files g
                      WHERE g.id::text = $3::text OR g.name = $3::text OR g.name LIKE $4::text), '{}') END AS files,
       coalesce((SELECT number FROM provisioning_requests
                 WHERE number >= (SELECT max(a) FROM lo WHERE k = 1) ORDER BY number LIMIT 1), 0) AS number_from,
       coalesce((SELECT number FROM provisioning_requests
                 WHERE number >= (SELECT min(b) FROM hi WHERE k = 1) ORDER BY number LIMIT 1), 0) AS number_to,
       coalesce((SELECT number FROM provisioning_requests
                 WHERE number >= (SELECT min(b) FROM hi WHERE k = 2) ORDER BY number LIMIT 1), 0) AS number_sure,
       coalesce((SELECT number FROM provisioning_requests
                 WHERE number >= (SELECT max(a) FROM lo WHERE k = 2) ORDER BY number LIMIT 1), 0) AS number_sure_until,
       ref.first AS reference_from, ref.last AS reference_to
FROM (SELECT min(number + 0) AS first, max(number + 0) AS last FROM provisioning_requests
      WHERE $8::text <> '' AND reference_number = $8::text) ref
