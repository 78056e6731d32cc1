-- PostgreSQL: a partition's events when they must go through a temporary table (a copy of
-- an event already staged, see replace_events_partition).
CREATE TEMP TABLE load_events ON COMMIT DROP AS
SELECT * FROM staging_events WITH NO DATA;
