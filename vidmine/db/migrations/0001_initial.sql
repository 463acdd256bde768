-- vidmine's tables. Row ids are the stable ones from vidmine/models.py
-- ("{video_id}_scene_001", ...), so re-running a stage rewrites the same ids.
-- Lookups by video_id are served by each table's primary key or its unique
-- (video_id, idx), which lead with video_id, or by an index of their own.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE videos (
    video_id     text PRIMARY KEY,
    file_name    text NOT NULL,
    source_path  text NOT NULL,
    sha256       text NOT NULL,
    size_bytes   bigint NOT NULL,
    duration_s   double precision,
    width        integer,
    height       integer,
    fps          double precision,
    rotation     integer,
    has_video    boolean,
    has_audio    boolean,
    video_codec  text,
    audio_codec  text,
    probe        jsonb,
    profile      text,
    status       text NOT NULL DEFAULT 'registered'
                 CHECK (status IN ('registered', 'processing', 'ready', 'failed')),
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX videos_sha256_idx ON videos (sha256);

-- Files the upload sensor refused; keyed by what identifies one version of a file so a
-- replaced file is looked at again.
CREATE TABLE upload_rejections (
    path         text NOT NULL,
    size_bytes   bigint NOT NULL,
    mtime        double precision NOT NULL,
    reason       text NOT NULL,
    rejected_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (path, size_bytes, mtime)
);

CREATE TABLE stage_runs (
    video_id     text NOT NULL REFERENCES videos (video_id) ON DELETE CASCADE,
    stage        text NOT NULL,
    status       text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    started_at   timestamptz,
    finished_at  timestamptz,
    seconds      double precision,
    error        text,
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (video_id, stage)
);

CREATE TABLE transcript_segments (
    segment_id   text PRIMARY KEY,
    video_id     text NOT NULL REFERENCES videos (video_id) ON DELETE CASCADE,
    idx          integer NOT NULL,
    start_s      double precision NOT NULL,
    end_s        double precision NOT NULL,
    text         text NOT NULL,
    UNIQUE (video_id, idx)
);

CREATE TABLE scenes (
    scene_id     text PRIMARY KEY,
    video_id     text NOT NULL REFERENCES videos (video_id) ON DELETE CASCADE,
    idx          integer NOT NULL,
    start_s      double precision NOT NULL,
    end_s        double precision NOT NULL,
    start_frame  integer NOT NULL,
    end_frame    integer NOT NULL,  -- exclusive
    UNIQUE (video_id, idx)
);

CREATE TABLE keyframes (
    frame_id     text PRIMARY KEY,
    video_id     text NOT NULL REFERENCES videos (video_id) ON DELETE CASCADE,
    idx          integer NOT NULL,
    scene_id     text NOT NULL,  -- no foreign key: scenes and keyframes are replaced separately
    timestamp_s  double precision NOT NULL,
    path         text NOT NULL,
    phash        text NOT NULL,
    width        integer NOT NULL,
    height       integer NOT NULL,
    UNIQUE (video_id, idx)
);

CREATE TABLE ocr_texts (
    ocr_id       text PRIMARY KEY,
    video_id     text NOT NULL REFERENCES videos (video_id) ON DELETE CASCADE,
    idx          integer NOT NULL,
    start_s      double precision NOT NULL,
    end_s        double precision NOT NULL,
    text         text NOT NULL,
    confidence   double precision NOT NULL,
    frame_path   text,
    UNIQUE (video_id, idx)
);

CREATE TABLE frame_captions (
    frame_id        text PRIMARY KEY,
    video_id        text NOT NULL REFERENCES videos (video_id) ON DELETE CASCADE,
    frame_index     integer NOT NULL,
    caption         text NOT NULL,
    entities        jsonb NOT NULL DEFAULT '[]'::jsonb,
    on_screen_text  text NOT NULL DEFAULT '',
    provider        text NOT NULL,
    model           text NOT NULL,
    descriptor_only boolean NOT NULL,
    note            text NOT NULL DEFAULT '',
    UNIQUE (video_id, frame_index)
);

-- What search looks through: one row per transcript segment, OCR text and caption.
-- The embedding column has no fixed dimension so it follows the configured model; each
-- dimension gets its own partial HNSW index over embedding::vector(dim), created by
-- Store.ensure_vector_index, and queries use that same expression.
CREATE TABLE search_items (
    item_id      text PRIMARY KEY,
    video_id     text NOT NULL REFERENCES videos (video_id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('segment', 'ocr', 'caption')),
    source_id    text NOT NULL,
    start_s      double precision NOT NULL,
    end_s        double precision NOT NULL,
    text         text NOT NULL,
    tsv          tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
    model        text NOT NULL,
    dim          integer NOT NULL CHECK (dim > 0),
    embedding    vector,
    CHECK (embedding IS NULL OR vector_dims(embedding) = dim)
);
CREATE INDEX search_items_video_idx ON search_items (video_id);
CREATE INDEX search_items_tsv_idx ON search_items USING gin (tsv);

CREATE TABLE provider_calls (
    id             bigserial PRIMARY KEY,
    video_id       text,  -- no foreign key: the cost history outlives a deleted video
    stage          text NOT NULL,
    provider       text NOT NULL,
    model          text NOT NULL,
    status         text NOT NULL,
    latency_ms     double precision NOT NULL DEFAULT 0,
    retries        integer NOT NULL DEFAULT 0,
    input_tokens   integer NOT NULL DEFAULT 0,
    output_tokens  integer NOT NULL DEFAULT 0,
    audio_seconds  double precision NOT NULL DEFAULT 0,
    cost_usd       double precision,  -- NULL: no price known for this provider/model
    cached         boolean NOT NULL DEFAULT false,
    error          text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX provider_calls_video_idx ON provider_calls (video_id);

CREATE TABLE response_cache (
    cache_key    text PRIMARY KEY,
    provider     text NOT NULL,
    model        text NOT NULL,
    response     jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE content_assets (
    video_id      text NOT NULL REFERENCES videos (video_id) ON DELETE CASCADE,
    content_type  text NOT NULL,
    body          jsonb NOT NULL,
    markdown      text NOT NULL,
    provider      text NOT NULL,
    model         text NOT NULL,
    extractive    boolean NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (video_id, content_type)
);

