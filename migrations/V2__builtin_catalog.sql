-- The built-in catalog: which catalog version last wrote a built-in row. Seeding at start
-- compares the shipped values with unedited built-in rows and rewrites those that differ;
-- NULL on custom rows.
ALTER TABLE providers ADD COLUMN catalog_version integer;
ALTER TABLE models ADD COLUMN catalog_version integer;
