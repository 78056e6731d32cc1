-- Staging runs that could touch the same rows queue here, for the rest of the transaction:
-- one lock per events partition, one for all song loads.
SELECT pg_advisory_xact_lock(hashtext(%(lock_name)s));
