-- The texts to restore, one row each (filled below); the program at the
-- end fills in the live ids, what it did and, where a live text was in
-- the way, that text as it was.
CREATE TEMPORARY TABLE textrescue_plan (
    n integer PRIMARY KEY,
    username text NOT NULL,
    phase integer NOT NULL,
    task_name text NOT NULL,
    backup_id bigint NOT NULL,
    created_at timestamptz NOT NULL,
    modified_at timestamptz,
    text text NOT NULL,
    -- What `textrescue restore` saw in its plan (NULL: no plan to hold to):
    -- restore, skip or overwrite, and the sha256 of the live text in the way.
    planned_action text,
    planned_live_sha256 text,
    user_id bigint,
    task_id bigint,
    action text,
    live_id bigint,
    live_created_at timestamptz,
    live_modified_at timestamptz,
    live_text text,
    row_id bigint
) ON COMMIT DROP;

-- Live texts to delete: only `textrescue restore --delete-absent` (the undo
-- of a restore that added texts) fills it; each belongs to one of the named
-- students and must still be as the plan saw it.
CREATE TEMPORARY TABLE textrescue_delete (
    n integer PRIMARY KEY,
    id bigint NOT NULL,
    usernames text[] NOT NULL,
    planned_action text,
    planned_live_sha256 text,
    action text,
    username text,
    task text,
    live_created_at timestamptz,
    live_modified_at timestamptz,
    live_text text
) ON COMMIT DROP;

