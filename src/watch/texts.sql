-- The texts with these ids, whole (hex of their UTF-8 bytes), with the row
-- as it is now: one line, `textrescue-texts ` and a JSON array of arrays.
SELECT 'textrescue-texts ' || coalesce(json_agg(json_build_array(
    id, row_version, user_id, task_id, created_at, modified_at,
    encode(convert_to(text, 'UTF8'), 'hex'))
    ORDER BY id), '[]'::json)::text
FROM textrescue_watched
WHERE id = ANY (ARRAY[@ids@]::bigint[]);
