-- wasp-control on Postgres: consumer projects, hashed API keys, per-minute report rows.
-- Applied by `sqlx::migrate!` when wasp-control opens the database (an advisory lock keeps
-- replicas starting together from applying it twice).

CREATE TABLE projects (
    project_id     TEXT PRIMARY KEY,
    project_number BIGINT NOT NULL UNIQUE
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    key_sha256 TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL REFERENCES projects (project_id),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE report_minutes (
    service        TEXT NOT NULL,
    operation      TEXT NOT NULL,
    consumer       TEXT NOT NULL,
    response_code  TEXT NOT NULL,
    minute         BIGINT NOT NULL,
    requests       BIGINT NOT NULL,
    errors         BIGINT NOT NULL,
    request_bytes  BIGINT NOT NULL,
    response_bytes BIGINT NOT NULL,
    latency        JSONB NOT NULL,
    PRIMARY KEY (service, operation, consumer, response_code, minute)
);

CREATE INDEX report_minutes_by_minute ON report_minutes (minute);
