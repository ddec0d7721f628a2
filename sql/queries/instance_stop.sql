-- Instance $1 ends cleanly: it is no longer live, and not dead either.
DELETE FROM instances WHERE id = $1
