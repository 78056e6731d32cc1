-- PostgreSQL: how many of the rows just read (load_events) are copies of another event:
-- a second copy in the load itself, or an event another partition already holds (this
-- partition's own rows were deleted before). Counted before the insert leaves them out.
SELECT
    (SELECT COUNT(*) FROM load_events)
    - (SELECT COUNT(*) FROM (
           SELECT DISTINCT l.session_id, l.item_in_session
           FROM load_events AS l
           WHERE NOT EXISTS (
               SELECT 1 FROM staging_events AS s
               WHERE s.session_id = l.session_id AND s.item_in_session = l.item_in_session
           )
       ) AS fresh);
