-- Warehouse schema, PostgreSQL flavour. Idempotent: creates what is missing, drops nothing.

-- Staging: one row per staged event; partition_hour is the hour whose prefix it came from.
CREATE TABLE IF NOT EXISTS staging_events (
    partition_hour  TIMESTAMP NOT NULL,
    source_key      VARCHAR NOT NULL,
    line_no         INTEGER,
    artist          VARCHAR,
    auth            VARCHAR,
    first_name      VARCHAR,
    gender          VARCHAR,
    item_in_session INTEGER NOT NULL,
    last_name       VARCHAR,
    length          DOUBLE PRECISION,
    level           VARCHAR,
    location        VARCHAR,
    method          VARCHAR,
    page            VARCHAR NOT NULL,
    registration    DOUBLE PRECISION,
    session_id      INTEGER NOT NULL,
    song            VARCHAR,
    status          INTEGER,
    ts              BIGINT NOT NULL,
    user_agent      VARCHAR,
    user_id         VARCHAR
);
-- Events are unique on (sessionId, itemInSession) whatever key delivered them.
CREATE UNIQUE INDEX IF NOT EXISTS staging_events_event_uq ON staging_events (session_id, item_in_session);
CREATE INDEX IF NOT EXISTS staging_events_partition_ix ON staging_events (partition_hour);

-- Staging: the latest content of each song file, keyed by song.
CREATE TABLE IF NOT EXISTS staging_songs (
    song_id          VARCHAR PRIMARY KEY,
    num_songs        INTEGER,
    artist_id        VARCHAR,
    artist_latitude  DOUBLE PRECISION,
    artist_longitude DOUBLE PRECISION,
    artist_location  VARCHAR,
    artist_name      VARCHAR,
    title            VARCHAR,
    duration         DOUBLE PRECISION,
    year             INTEGER,
    source_key       VARCHAR NOT NULL,
    partition_hour   TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS staging_songs_match_ix ON staging_songs (title, artist_name, duration);
CREATE INDEX IF NOT EXISTS staging_songs_partition_ix ON staging_songs (partition_hour);
CREATE INDEX IF NOT EXISTS staging_songs_artist_ix ON staging_songs (artist_id);

-- Every record that could not be staged, with where it came from and why.
CREATE TABLE IF NOT EXISTS staging_rejects (
    dataset        VARCHAR NOT NULL,
    partition_hour TIMESTAMP NOT NULL,
    source_key     VARCHAR NOT NULL,
    line_no        INTEGER,
    reason         VARCHAR NOT NULL,
    raw_text       VARCHAR,
    rejected_at    TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);
CREATE INDEX IF NOT EXISTS staging_rejects_partition_ix ON staging_rejects (dataset, partition_hour);

-- Every S3 object loaded: the same object again is skipped, a changed one reloaded.
CREATE TABLE IF NOT EXISTS load_ledger (
    dataset        VARCHAR NOT NULL,
    source_key     VARCHAR NOT NULL,
    etag           VARCHAR NOT NULL,
    size_bytes     BIGINT NOT NULL,
    partition_hour TIMESTAMP NOT NULL,
    rows_read      INTEGER,
    rows_staged    INTEGER,
    rows_rejected  INTEGER,
    rows_duplicate INTEGER,
    rows_coerced   INTEGER,
    loaded_at      TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    PRIMARY KEY (dataset, source_key)
);
-- A partition's objects (restaging an hour, a partition's counts) without reading the whole
-- ledger, which grows with every object ever loaded.
CREATE INDEX IF NOT EXISTS load_ledger_partition_ix ON load_ledger (dataset, partition_hour);

-- One row per staged partition and data set: the reconciliation counts and schema drift.
CREATE TABLE IF NOT EXISTS staging_partitions (
    dataset        VARCHAR NOT NULL,
    partition_hour TIMESTAMP NOT NULL,
    objects        INTEGER NOT NULL,
    rows_read      INTEGER NOT NULL,
    rows_staged    INTEGER NOT NULL,
    rows_rejected  INTEGER NOT NULL,
    rows_duplicate INTEGER NOT NULL,
    rows_coerced   INTEGER NOT NULL,
    drift          VARCHAR NOT NULL,
    staged_at      TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    PRIMARY KEY (dataset, partition_hour)
);

-- The song a play's (title, artist name, length) picks among every staged song: the least
-- song_id. Kept by every merge into staging_songs for the triples it touches
-- (sql/staging/merge_song_picks.sql), so `model` looks a play's song up in one row instead
-- of ranking staging_songs for every hour.
CREATE TABLE IF NOT EXISTS song_picks (
    title          VARCHAR NOT NULL,
    artist_name    VARCHAR NOT NULL,
    duration       DOUBLE PRECISION NOT NULL,
    song_id        VARCHAR NOT NULL,
    artist_id      VARCHAR,
    partition_hour TIMESTAMP NOT NULL,
    PRIMARY KEY (title, artist_name, duration)
);
CREATE INDEX IF NOT EXISTS song_picks_partition_ix ON song_picks (partition_hour);
-- The re-match starts from the picks among the songs a model run brought in (arrived_songs).
CREATE INDEX IF NOT EXISTS song_picks_song_ix ON song_picks (song_id);

-- Star schema.
CREATE TABLE IF NOT EXISTS songplays (
    songplay_id     VARCHAR(32) PRIMARY KEY,
    partition_hour  TIMESTAMP NOT NULL,
    start_time      TIMESTAMP NOT NULL,
    user_id         VARCHAR,
    level           VARCHAR,
    song_id         VARCHAR,
    artist_id       VARCHAR,
    session_id      INTEGER NOT NULL,
    item_in_session INTEGER NOT NULL,
    location        VARCHAR,
    user_agent      VARCHAR
);
CREATE INDEX IF NOT EXISTS songplays_partition_ix ON songplays (partition_hour);

-- The plays of `songplays` still without a song, with the triple they wait for: the songs a
-- partition brings are matched against these by index, not against every staged event.
-- Kept by the songplays load (sql/load/load_songplays.sql).
CREATE TABLE IF NOT EXISTS unmatched_plays (
    songplay_id    VARCHAR(32) PRIMARY KEY,
    partition_hour TIMESTAMP NOT NULL,
    title          VARCHAR NOT NULL,
    artist_name    VARCHAR NOT NULL,
    duration       DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS unmatched_plays_song_ix ON unmatched_plays (title, artist_name, duration);
CREATE INDEX IF NOT EXISTS unmatched_plays_partition_ix ON unmatched_plays (partition_hour);

CREATE TABLE IF NOT EXISTS users (
    user_id       VARCHAR PRIMARY KEY,
    first_name    VARCHAR,
    last_name     VARCHAR,
    gender        VARCHAR,
    level         VARCHAR,
    last_event_ts BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS songs (
    song_id   VARCHAR PRIMARY KEY,
    title     VARCHAR,
    artist_id VARCHAR,
    year      INTEGER,
    duration  DOUBLE PRECISION
);

CREATE TABLE IF NOT EXISTS artists (
    artist_id VARCHAR PRIMARY KEY,
    name      VARCHAR,
    location  VARCHAR,
    latitude  DOUBLE PRECISION,
    longitude DOUBLE PRECISION
);

CREATE TABLE IF NOT EXISTS "time" (
    start_time TIMESTAMP PRIMARY KEY,
    hour       INTEGER NOT NULL,
    day        INTEGER NOT NULL,
    week       INTEGER NOT NULL,
    month      INTEGER NOT NULL,
    year       INTEGER NOT NULL,
    weekday    INTEGER NOT NULL
);

-- Every data quality check's outcome, for people to query.
CREATE TABLE IF NOT EXISTS check_results (
    check_name     VARCHAR NOT NULL,
    table_name     VARCHAR NOT NULL,
    partition_hour TIMESTAMP,
    value          VARCHAR,
    passed         BOOLEAN NOT NULL,
    checked_at     TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    -- The window judged: partition_hour (its first hour) up to window_end (exclusive),
    -- and the run's partition key (an hour, or an interval for a backfill's window).
    window_end     TIMESTAMP,
    partition_key  VARCHAR
);
-- Warehouses made before windows: the columns are added, nothing else changes.
ALTER TABLE check_results ADD COLUMN IF NOT EXISTS window_end TIMESTAMP;
ALTER TABLE check_results ADD COLUMN IF NOT EXISTS partition_key VARCHAR;
CREATE INDEX IF NOT EXISTS check_results_partition_ix ON check_results (partition_hour);

-- A warehouse made before song_picks and unmatched_plays existed: fill them once from what
-- is there (both statements add only what is missing, so running setup again changes nothing).
{% include "schema/fill_match_tables.sql" %}
