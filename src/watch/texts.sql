-- The texts with these ids, whole (hex of their UTF-8 bytes), with the row
-- as it is now: one line, `textrescue-texts ` and a JSON array of arrays.
-- In id order, as many as fit in @budget@ bytes of text (and always the
-- first), so that a poll's memory stays bounded whatever the texts' sizes;
-- the rest are asked for again.
SELECT 'textrescue-texts ' || coalesce(json_agg(json_build_array(
    id, row_version, user_id, task_id, created_at, modified_at,
    encode(convert_to(text, 'UTF8'), 'hex'))
    ORDER BY id), '[]'::json)::text
FROM (
    SELECT *, sum(octet_length(text)) OVER (ORDER BY id) - octet_length(text) AS before
    FROM textrescue_watched
    WHERE id = ANY (ARRAY[@ids@]::bigint[])
) chosen
WHERE before < @budget@;
