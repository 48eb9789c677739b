-- Live texts with their students and tasks by name, for `textrescue restore`
-- to compare with a backup's: one line, `textrescue-rows ` and JSON (texts
-- hex-encoded, times in UTC with microseconds). The tables are the views of
-- src/restore/script/target.sql: no name is written here.
SELECT 'textrescue-rows ' || coalesce(json_agg(json_build_object(
    'id', t.id,
    'username', u.username,
    'phase', k.phase,
    'task_name', k.name,
    'created_at', to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
    'modified_at', to_char(t.modified_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
    'text', encode(convert_to(t.text, 'UTF8'), 'hex')) ORDER BY t.id), '[]'::json)::text
FROM textrescue_texts t
LEFT JOIN textrescue_users u ON u.id = t.user_id
LEFT JOIN textrescue_tasks k ON k.id = t.task_id
WHERE @where@;
