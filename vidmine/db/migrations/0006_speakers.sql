-- Speakers (issue #23): who speaks when. The speakers stage labels each transcript segment
-- (and, inside its words jsonb, each word) with a speaker key "1", "2" ... numbered by
-- first appearance, and keeps the turns and each speaker's talk time. Names a person gives
-- a speaker live in their own table, which the stage never replaces, so a rename survives
-- re-running it.

ALTER TABLE transcript_segments ADD COLUMN speaker text;

CREATE TABLE speaker_turns (
    video_id     text NOT NULL REFERENCES videos (video_id) ON DELETE CASCADE,
    idx          integer NOT NULL,
    speaker      text NOT NULL,
    start_s      double precision NOT NULL,
    end_s        double precision NOT NULL,
    PRIMARY KEY (video_id, idx)
);

CREATE TABLE speakers (
    video_id     text NOT NULL REFERENCES videos (video_id) ON DELETE CASCADE,
    speaker      text NOT NULL,
    talk_s       double precision NOT NULL,
    turns        integer NOT NULL,
    PRIMARY KEY (video_id, speaker)
);

CREATE TABLE speaker_names (
    video_id     text NOT NULL REFERENCES videos (video_id) ON DELETE CASCADE,
    speaker      text NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    PRIMARY KEY (video_id, speaker)
);
