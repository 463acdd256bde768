-- Adaptive provider limits (issue #24 item 2): the request cap of a provider follows its
-- answers, and every process that shares the provider's request slots (advisory locks on
-- this database, vidmine/providers/slots.py) must see the same cap, so the cap lives here,
-- beside the slots. No row: the provider is at its configured ceiling (max_concurrent).
-- Written and read only by vidmine.providers.slots; the rule itself is
-- vidmine.providers.adaptive.next_limit.

CREATE TABLE provider_limits (
    provider text PRIMARY KEY,
    -- The current cap, fractional so the additive increase can add 1/limit per good
    -- answer; requests in flight are floor(limit) (at least 1), the request rate
    -- limit/ceiling of requests_per_minute.
    concurrency_limit double precision NOT NULL CHECK (concurrency_limit > 0),
    ceiling integer NOT NULL CHECK (ceiling >= 1),
    -- No new request before this (the largest Retry-After a throttled answer asked for).
    resume_at timestamptz,
    -- The last multiplicative decrease: a throttled answer to a request sent before it is
    -- the same overload, already answered, and lowers nothing again.
    decreased_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Throttled answers (429) and server errors (5xx) per provider and minute, for /stats and
-- the library ("429s in the last minutes"); rows older than a day are deleted as new ones
-- arrive.
CREATE TABLE provider_throttles (
    provider text NOT NULL,
    minute timestamptz NOT NULL,
    too_many_requests integer NOT NULL DEFAULT 0,
    server_errors integer NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, minute)
);
