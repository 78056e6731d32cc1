-- A source file rejected whole, unread (a song file over max_song_file_bytes), as line 1.
INSERT INTO staging_rejects (dataset, partition_hour, source_key, line_no, reason, raw_text)
VALUES (%(dataset)s, %(partition_hour)s, %(source_key)s, 1, %(reason)s, NULL);
