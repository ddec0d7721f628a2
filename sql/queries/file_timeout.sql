-- The statement timeout of one file's transaction, $1 milliseconds (importer
-- Options.FileTimeout): the COPY streams the whole file as one statement.
SELECT set_config('statement_timeout', $1, true)
