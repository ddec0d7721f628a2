-- The instances holding job locks with a live lease: the sweep checks which of
-- them, on this host, are dead processes.
SELECT instance FROM job_locks WHERE expires_at >= now()
