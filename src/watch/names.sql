-- The students' usernames and the tasks, through the views of the restore's
-- target.sql: one line, `textrescue-names ` and a JSON array of two arrays,
-- users (id, username) and tasks (id, phase, name, is_enabled). Strings
-- hex-encoded (UTF-8 bytes), so that nothing in a name can change a byte;
-- is_enabled read through to_jsonb, as a server without the column has none.
SELECT 'textrescue-names ' || json_build_array(
    (SELECT coalesce(json_agg(json_build_array(
         u.id, encode(convert_to(u.username, 'UTF8'), 'hex')) ORDER BY u.id), '[]'::json)
     FROM textrescue_users u),
    (SELECT coalesce(json_agg(json_build_array(
         k.id, k.phase, encode(convert_to(k.name, 'UTF8'), 'hex'), to_jsonb(k) -> 'is_enabled')
         ORDER BY k.id), '[]'::json)
     FROM textrescue_tasks k))::text;
