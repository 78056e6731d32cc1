-- An hour without objects holds no event.
DELETE FROM staging_events WHERE partition_hour = %(partition_hour)s;
