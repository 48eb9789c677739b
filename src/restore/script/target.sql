-- The live tables, by name. The names are data (the literals in the INSERT
-- below), never SQL: they reach a statement only through format('%I'), and
-- what follows works on the temporary views made here, whatever the names
-- hold (quotes, `$$`, `\!`, a newline).
CREATE TEMPORARY TABLE textrescue_target (
    schema_name text NOT NULL,
    texts_name text NOT NULL
) ON COMMIT DROP;
INSERT INTO textrescue_target (schema_name, texts_name)
VALUES (@schema@, @texts@);
DO $textrescue$
DECLARE
    tg record;
    missing text[] := '{}';
BEGIN
    SELECT * INTO STRICT tg FROM textrescue_target;
    IF to_regclass(format('%I.%I', tg.schema_name, tg.texts_name)) IS NULL THEN
        missing := missing || format('%I.%I', tg.schema_name, tg.texts_name);
    END IF;
    IF to_regclass(format('%I.users', tg.schema_name)) IS NULL THEN
        missing := missing || format('%I.users', tg.schema_name);
    END IF;
    IF to_regclass(format('%I.tasks', tg.schema_name)) IS NULL THEN
        missing := missing || format('%I.tasks', tg.schema_name);
    END IF;
    IF cardinality(missing) > 0 THEN
        RAISE EXCEPTION 'textrescue: nothing restored, nothing changed: the live database has no table %',
            array_to_string(missing, ', ')
            USING HINT = 'Connect to the database the backup is of, or name its texts table (--table).';
    END IF;
    IF @lock@::text IS NOT NULL THEN
        -- EXCLUSIVE keeps the server from writing texts while a restore runs
        -- (reading still works); SHARE waits for such a restore to end.
        EXECUTE format('LOCK TABLE %I.%I IN %s MODE', tg.schema_name, tg.texts_name, @lock@::text);
    END IF;
    EXECUTE format('CREATE TEMPORARY VIEW textrescue_texts AS SELECT * FROM %I.%I',
                   tg.schema_name, tg.texts_name);
    EXECUTE format('CREATE TEMPORARY VIEW textrescue_users AS SELECT * FROM %I.users', tg.schema_name);
    EXECUTE format('CREATE TEMPORARY VIEW textrescue_tasks AS SELECT * FROM %I.tasks', tg.schema_name);
END
$textrescue$;
