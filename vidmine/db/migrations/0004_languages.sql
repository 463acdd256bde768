-- Languages (issue #11): every transcript segment and OCR text carries its language (an
-- ISO 639-1 code, NULL when not known), segments keep their words' times, a video lists
-- its spoken languages most spoken first, and full-text search indexes each item with
-- the text search configuration of its language.

ALTER TABLE transcript_segments
    ADD COLUMN language text,
    -- [{"word": "Americans,", "start_s": 1.56, "end_s": 2.1}, ...]
    ADD COLUMN words jsonb NOT NULL DEFAULT '[]'::jsonb;

ALTER TABLE ocr_texts ADD COLUMN language text;

-- Written with the transcript, in the same transaction: ["en", "de"].
ALTER TABLE videos ADD COLUMN languages text[] NOT NULL DEFAULT '{}';

-- The configuration is kept as text, not regconfig: pg_upgrade refuses tables with
-- regconfig columns. The cast to regconfig looks the name up in the catalog, which
-- PostgreSQL does not count as immutable, so the generated column goes through this
-- function, declared immutable: the built-in configurations it is used with do not change.
CREATE FUNCTION vidmine_tsvector(config text, body text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT to_tsvector(config::regconfig, body) $$;

DROP INDEX search_items_tsv_idx;
ALTER TABLE search_items
    DROP COLUMN tsv,
    ADD COLUMN language text,
    -- Rows indexed before this migration were indexed as English.
    ADD COLUMN ts_config text NOT NULL DEFAULT 'english';
ALTER TABLE search_items
    ADD COLUMN tsv tsvector GENERATED ALWAYS AS (vidmine_tsvector(ts_config, text)) STORED;
CREATE INDEX search_items_tsv_idx ON search_items USING gin (tsv);
