-- Redshift has no advisory locks and no unique constraints: every staging run (both data
-- sets, every partition, restage_late's too) queues on this table's lock, taken as the
-- transaction's first statement, before its snapshot, so concurrent runs neither stage an
-- event twice nor meet a serializable isolation violation (1023) on the shared tables.
-- Only staging takes this lock: readers of any table, the star schema included, never wait.
LOCK lock_staging;
