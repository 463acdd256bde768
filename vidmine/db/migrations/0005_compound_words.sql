-- Compound words (issue #18): "Marktplatz" must find the segment Whisper wrote as "Markt
-- Platz", and "lighthouse keeper" the one it heard as "light housekeeper". Full-text search
-- cannot: the two sides split the same letters into different words. So each item keeps
-- its long words ('w:marktplatz') and each pair of adjacent words with the split marked
-- ('p:markt|platz'), and a query asks for its long words split at every place and its
-- adjacent pairs written as one word and split at every other place
-- (vidmine_compound_query_keys). A match therefore always crosses a word boundary that one
-- side has and the other has not; words that match as written are full-text search's job.
-- Both functions split and lower-case alike, so the two sides agree in any collation.

CREATE FUNCTION vidmine_words(body text) RETURNS TABLE (word text, word_index bigint)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    SELECT w, n
    FROM regexp_split_to_table(lower(body), '[[:space:][:punct:]„“”‘’«»–—…]+')
         WITH ORDINALITY AS t(w, n)
    WHERE w <> ''
    $$;

-- Parts of at least 3 letters and wholes of at least 6: "in to" is not "into".
CREATE FUNCTION vidmine_compound_keys(body text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    WITH words AS (SELECT word, word_index FROM vidmine_words(body)),
    pairs AS (SELECT word, lead(word) OVER (ORDER BY word_index) AS next_word FROM words)
    SELECT coalesce(array_agg(DISTINCT key), '{}')
    FROM (
        SELECT 'w:' || word AS key FROM words WHERE length(word) >= 6
        UNION ALL
        SELECT 'p:' || word || '|' || next_word FROM pairs
        WHERE length(word) >= 3 AND length(next_word) >= 3
    ) AS keys
    $$;

-- PL/pgSQL, not SQL: a SQL function is inlined into the query that calls it and then runs
-- once per row; this one is called with a constant, so the planner computes it once and
-- the GIN index below can answer the && with it.
CREATE FUNCTION vidmine_compound_query_keys(query text) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
BEGIN
    RETURN (
        WITH words AS (SELECT word, word_index FROM vidmine_words(query)),
        pairs AS (SELECT word, lead(word) OVER (ORDER BY word_index) AS next_word FROM words),
        wholes AS (
            -- own_split: where the query itself splits the whole (NULL for one word)
            SELECT word AS whole, NULL::int AS own_split FROM words WHERE length(word) >= 6
            UNION ALL
            SELECT word || next_word, length(word) FROM pairs
            WHERE length(word) >= 3 AND length(next_word) >= 3
        )
        SELECT coalesce(array_agg(DISTINCT key), '{}')
        FROM (
            SELECT 'w:' || whole AS key FROM wholes WHERE own_split IS NOT NULL
            UNION ALL
            SELECT 'p:' || left(whole, i) || '|' || substr(whole, i + 1)
            FROM wholes, generate_series(3, length(whole) - 3) AS i
            WHERE i IS DISTINCT FROM own_split
        ) AS keys
    );
END
$$;

ALTER TABLE search_items
    ADD COLUMN compound_keys text[] GENERATED ALWAYS AS (vidmine_compound_keys(text)) STORED;
CREATE INDEX search_items_compound_keys_idx ON search_items USING gin (compound_keys);
