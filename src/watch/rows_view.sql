-- The live texts as `watch` polls them: a view of the texts table named by
-- textrescue_target (made by the restore's target.sql), with each row's
-- xmin, which changes on every write to the row, including one that leaves
-- modified_at alone. The name is data, reaching SQL only through %I.
DO $textrescue$
DECLARE
    tg record;
BEGIN
    SELECT * INTO STRICT tg FROM textrescue_target;
    EXECUTE format('CREATE TEMPORARY VIEW textrescue_watched AS '
                   'SELECT id, xmin::text AS row_version, user_id, task_id, '
                   'created_at::text AS created_at, modified_at::text AS modified_at, text '
                   'FROM %I.%I', tg.schema_name, tg.texts_name);
END
$textrescue$;
