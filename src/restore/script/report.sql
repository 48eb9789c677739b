-- What the program above did or would do, for `textrescue restore` to read
-- (one line: the marker, then JSON; texts hex-encoded, times in UTC).
SELECT 'textrescue-report ' || json_build_object(
    'texts', (SELECT coalesce(json_agg(json_build_object(
        'n', n, 'action', action, 'live_id', live_id, 'row_id', row_id,
        'live_created_at', to_char(live_created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        'live_modified_at', to_char(live_modified_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        'live_text', encode(convert_to(live_text, 'UTF8'), 'hex')) ORDER BY n), '[]'::json)
        FROM textrescue_plan),
    'deletions', (SELECT coalesce(json_agg(json_build_object(
        'n', n, 'id', id, 'action', action, 'username', username, 'task', task,
        'live_created_at', to_char(live_created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        'live_modified_at', to_char(live_modified_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        'live_text', encode(convert_to(live_text, 'UTF8'), 'hex')) ORDER BY n), '[]'::json)
        FROM textrescue_delete))::text;
