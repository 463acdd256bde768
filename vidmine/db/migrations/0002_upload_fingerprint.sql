-- The upload sensor keys a file by a quick fingerprint (size and three 1 MiB samples)
-- read inside its tick; the full sha256 is filled in by the source_video asset, which
-- is where a large file can take its time. Videos registered before keep their sha256
-- and have no fingerprint.
ALTER TABLE videos ADD COLUMN fingerprint text;
ALTER TABLE videos ALTER COLUMN sha256 DROP NOT NULL;
CREATE INDEX videos_fingerprint_idx ON videos (fingerprint);
