-- What a run's first poll asks (it knows no row versions yet): every live
-- text without its text: id, row version (xmin), student, task, times as
-- PostgreSQL prints them in UTC, and the sha256 of the text's UTF-8 bytes
-- (computed in the server: the text itself stays there). One line:
-- `textrescue-state ` and a JSON array of arrays.
SELECT 'textrescue-state ' || coalesce(json_agg(json_build_array(
    id, row_version, user_id, task_id, created_at, modified_at,
    encode(sha256(convert_to(text, 'UTF8')), 'hex'))
    ORDER BY id), '[]'::json)::text
FROM textrescue_watched;
