-- What the migration lock's key is made of (golang-migrate's advisory lock id):
-- the database and the schema the migrations table is in.
SELECT current_database(), current_schema()
