-- Warehouse schema, Redshift flavour: distribution and sort keys instead of indexes.
-- Idempotent: creates what is missing, drops nothing.

CREATE TABLE IF NOT EXISTS staging_events (
    partition_hour  TIMESTAMP NOT NULL,
    source_key      VARCHAR(1024) NOT NULL,
    line_no         INTEGER,
    artist          VARCHAR(1024),
    auth            VARCHAR(32),
    first_name      VARCHAR(256),
    gender          VARCHAR(16),
    item_in_session INTEGER NOT NULL,
    last_name       VARCHAR(256),
    length          DOUBLE PRECISION,
    level           VARCHAR(16),
    location        VARCHAR(512),
    method          VARCHAR(16),
    page            VARCHAR(64) NOT NULL,
    registration    DOUBLE PRECISION,
    session_id      INTEGER NOT NULL,
    song            VARCHAR(1024),
    status          INTEGER,
    ts              BIGINT NOT NULL,
    user_agent      VARCHAR(1024),
    user_id         VARCHAR(64)
)
DISTSTYLE KEY DISTKEY (session_id)
COMPOUND SORTKEY (partition_hour, session_id);

CREATE TABLE IF NOT EXISTS staging_songs (
    song_id          VARCHAR(64) NOT NULL,
    num_songs        INTEGER,
    artist_id        VARCHAR(64),
    artist_latitude  DOUBLE PRECISION,
    artist_longitude DOUBLE PRECISION,
    artist_location  VARCHAR(1024),
    artist_name      VARCHAR(1024),
    title            VARCHAR(1024),
    duration         DOUBLE PRECISION,
    year             INTEGER,
    source_key       VARCHAR(1024) NOT NULL,
    partition_hour   TIMESTAMP NOT NULL,
    PRIMARY KEY (song_id)
)
DISTSTYLE KEY DISTKEY (song_id)
SORTKEY (title);

CREATE TABLE IF NOT EXISTS staging_rejects (
    dataset        VARCHAR(16) NOT NULL,
    partition_hour TIMESTAMP NOT NULL,
    source_key     VARCHAR(1024) NOT NULL,
    line_no        INTEGER,
    reason         VARCHAR(256) NOT NULL,
    raw_text       VARCHAR(4096),
    rejected_at    TIMESTAMP NOT NULL DEFAULT GETDATE()
)
DISTSTYLE EVEN
SORTKEY (dataset, partition_hour);

CREATE TABLE IF NOT EXISTS load_ledger (
    dataset        VARCHAR(16) NOT NULL,
    source_key     VARCHAR(1024) NOT NULL,
    etag           VARCHAR(128) NOT NULL,
    size_bytes     BIGINT NOT NULL,
    partition_hour TIMESTAMP NOT NULL,
    rows_read      INTEGER,
    rows_staged    INTEGER,
    rows_rejected  INTEGER,
    rows_duplicate INTEGER,
    rows_coerced   INTEGER,
    loaded_at      TIMESTAMP NOT NULL DEFAULT GETDATE(),
    PRIMARY KEY (dataset, source_key)
)
DISTSTYLE ALL
SORTKEY (dataset, source_key);

CREATE TABLE IF NOT EXISTS staging_partitions (
    dataset        VARCHAR(16) NOT NULL,
    partition_hour TIMESTAMP NOT NULL,
    objects        INTEGER NOT NULL,
    rows_read      INTEGER NOT NULL,
    rows_staged    INTEGER NOT NULL,
    rows_rejected  INTEGER NOT NULL,
    rows_duplicate INTEGER NOT NULL,
    rows_coerced   INTEGER NOT NULL,
    drift          VARCHAR(4096) NOT NULL,
    staged_at      TIMESTAMP NOT NULL DEFAULT GETDATE(),
    PRIMARY KEY (dataset, partition_hour)
)
DISTSTYLE ALL
SORTKEY (partition_hour);

-- The song a play's (title, artist name, length) picks among every staged song (least
-- song_id), kept by every merge into staging_songs (sql/staging/merge_song_picks.sql). Small
-- (one row per distinct song) and joined on the triple by every model run: on every node.
-- Sorted by the partition whose re-match reads the picks it staged.
CREATE TABLE IF NOT EXISTS song_picks (
    title          VARCHAR(1024) NOT NULL,
    artist_name    VARCHAR(1024) NOT NULL,
    duration       DOUBLE PRECISION NOT NULL,
    song_id        VARCHAR(64) NOT NULL,
    artist_id      VARCHAR(64),
    partition_hour TIMESTAMP NOT NULL,
    PRIMARY KEY (title, artist_name, duration)
)
DISTSTYLE ALL
SORTKEY (partition_hour);

-- The plays still without a song, with the triple they wait for (sql/load/load_songplays.sql).
-- Distributed like the songplays rows the re-match updates by songplay_id; sorted by the
-- triple it is joined on, so a partition's few new songs read few blocks.
CREATE TABLE IF NOT EXISTS unmatched_plays (
    songplay_id    VARCHAR(32) NOT NULL,
    partition_hour TIMESTAMP NOT NULL,
    title          VARCHAR(1024) NOT NULL,
    artist_name    VARCHAR(1024) NOT NULL,
    duration       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (songplay_id)
)
DISTSTYLE KEY DISTKEY (songplay_id)
COMPOUND SORTKEY (title, artist_name, duration);

CREATE TABLE IF NOT EXISTS songplays (
    songplay_id     VARCHAR(32) NOT NULL,
    partition_hour  TIMESTAMP NOT NULL,
    start_time      TIMESTAMP NOT NULL,
    user_id         VARCHAR(64),
    level           VARCHAR(16),
    song_id         VARCHAR(64),
    artist_id       VARCHAR(64),
    session_id      INTEGER NOT NULL,
    item_in_session INTEGER NOT NULL,
    location        VARCHAR(512),
    user_agent      VARCHAR(1024),
    PRIMARY KEY (songplay_id)
)
-- Not on song_id: at the real data's match rate most plays have none, and NULL keys all land
-- on one slice. songplay_id spreads them and puts each row beside its unmatched_plays row.
-- (A cluster made before: ALTER TABLE songplays ALTER DISTKEY songplay_id.)
DISTSTYLE KEY DISTKEY (songplay_id)
COMPOUND SORTKEY (partition_hour, start_time);

CREATE TABLE IF NOT EXISTS users (
    user_id       VARCHAR(64) NOT NULL,
    first_name    VARCHAR(256),
    last_name     VARCHAR(256),
    gender        VARCHAR(16),
    level         VARCHAR(16),
    last_event_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id)
)
DISTSTYLE ALL
SORTKEY (user_id);

CREATE TABLE IF NOT EXISTS songs (
    song_id   VARCHAR(64) NOT NULL,
    title     VARCHAR(1024),
    artist_id VARCHAR(64),
    year      INTEGER,
    duration  DOUBLE PRECISION,
    PRIMARY KEY (song_id)
)
DISTSTYLE KEY DISTKEY (song_id)
SORTKEY (song_id);

CREATE TABLE IF NOT EXISTS artists (
    artist_id VARCHAR(64) NOT NULL,
    name      VARCHAR(1024),
    location  VARCHAR(1024),
    latitude  DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    PRIMARY KEY (artist_id)
)
DISTSTYLE ALL
SORTKEY (artist_id);

CREATE TABLE IF NOT EXISTS "time" (
    start_time TIMESTAMP NOT NULL,
    hour       INTEGER NOT NULL,
    day        INTEGER NOT NULL,
    week       INTEGER NOT NULL,
    month      INTEGER NOT NULL,
    year       INTEGER NOT NULL,
    weekday    INTEGER NOT NULL,
    PRIMARY KEY (start_time)
)
DISTSTYLE ALL
SORTKEY (start_time);

CREATE TABLE IF NOT EXISTS check_results (
    check_name     VARCHAR(128) NOT NULL,
    table_name     VARCHAR(128) NOT NULL,
    partition_hour TIMESTAMP,
    value          VARCHAR(1024),
    passed         BOOLEAN NOT NULL,
    checked_at     TIMESTAMP NOT NULL DEFAULT GETDATE(),
    -- The window judged: partition_hour (its first hour) up to window_end (exclusive),
    -- and the run's partition key (an hour, or an interval for a backfill's window).
    window_end     TIMESTAMP,
    partition_key  VARCHAR(64)
)
DISTSTYLE EVEN
SORTKEY (partition_hour);

-- Redshift has no advisory locks: these empty tables stand in for them. `LOCK` on one, as a
-- transaction's first statement, makes the pipeline's writers of one kind queue (staging:
-- sql/ledger/lock.redshift.sql; model: sql/load/macros.sql) without locking a table that
-- anyone reads, so readers of the star schema are never blocked by a load.
CREATE TABLE IF NOT EXISTS lock_staging (held BOOLEAN)
DISTSTYLE ALL;

CREATE TABLE IF NOT EXISTS lock_model (held BOOLEAN)
DISTSTYLE ALL;

-- A warehouse made before song_picks and unmatched_plays existed: fill them once from what
-- is there (both statements add only what is missing, so running setup again changes nothing).
{% include "schema/fill_match_tables.sql" %}
