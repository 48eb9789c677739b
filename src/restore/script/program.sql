-- Look up every student and task in the live database, check, then restore.
-- The live tables are the views made above (textrescue_texts, textrescue_users,
-- textrescue_tasks): no name from the dump or the database is written here.
DO $textrescue$
DECLARE
    policy constant text := @policy@;
    check_only constant boolean := @check_only@;
    seq text;
    p record;
    problems text[] := '{}';
    what text;
    now_action text;
    cur_id bigint;
    live_created timestamptz;
    live_modified timestamptz;
    cur_text text;
    live_sha text;
    live_user text;
    live_task text;
    new_id bigint;
    top bigint;
    seq_next bigint;
    last_new bigint := 0;
    n_restored integer := 0;
    n_skipped integer := 0;
    n_overwritten integer := 0;
    n_deleted integer := 0;
BEGIN
    SELECT pg_get_serial_sequence(format('%I.%I', tg.schema_name, tg.texts_name), 'id')
        INTO seq FROM textrescue_target tg;

    -- 1. The live ids of the students and tasks (the backup's are not used).
    UPDATE textrescue_plan pl SET
        user_id = (SELECT u.id FROM textrescue_users u
                   WHERE lower(u.username) = lower(pl.username)
                   ORDER BY u.username = pl.username DESC, u.id LIMIT 1),
        task_id = (SELECT k.id FROM textrescue_tasks k
                   WHERE k.phase = pl.phase AND lower(k.name) = lower(pl.task_name)
                   ORDER BY k.name = pl.task_name DESC, k.id LIMIT 1);

    -- 2. Anything missing (or, with --on-conflict error, in the way) stops it all.
    FOR p IN SELECT DISTINCT username FROM textrescue_plan WHERE user_id IS NULL ORDER BY 1 LOOP
        problems := problems || format('no student with username %L', p.username);
    END LOOP;
    FOR p IN SELECT DISTINCT phase, upper(task_name) AS task FROM textrescue_plan
             WHERE task_id IS NULL ORDER BY 1, 2 LOOP
        problems := problems || format('no task %s-%s', p.phase, p.task);
    END LOOP;
    IF policy = 'error' THEN
        FOR p IN SELECT pl.n, pl.username, pl.phase, upper(pl.task_name) AS task, min(t.id) AS live_id
                 FROM textrescue_plan pl JOIN textrescue_texts t
                   ON t.user_id = pl.user_id AND t.task_id = pl.task_id
                 GROUP BY 1, 2, 3, 4 ORDER BY 1 LOOP
            problems := problems || format('%s already has a text for task %s-%s (id %s)',
                                           p.username, p.phase, p.task, p.live_id);
        END LOOP;
    END IF;
    FOR p IN SELECT d.id, u.username, d.usernames FROM textrescue_delete d
             JOIN textrescue_texts t ON t.id = d.id LEFT JOIN textrescue_users u ON u.id = t.user_id
             WHERE u.username IS NULL
                OR NOT lower(u.username) = ANY (SELECT lower(x) FROM unnest(d.usernames) x)
             ORDER BY d.n LOOP
        problems := problems || format('the live text id %s to delete belongs to %s, not to a student named %s',
                                       p.id, coalesce(quote_literal(p.username), 'no student'),
                                       array_to_string(ARRAY(SELECT quote_literal(x) FROM unnest(p.usernames) x), ' or '));
    END LOOP;
    IF cardinality(problems) > 0 THEN
        RAISE EXCEPTION 'textrescue: nothing restored, nothing changed: %',
            array_to_string(problems, '; ')
            USING HINT = CASE WHEN policy = 'error'
                THEN 'A text in the way: choose --on-conflict skip or overwrite. A missing student or task: create it, or leave its texts out (--user, --task, --id).'
                ELSE 'Create the missing student or task on the server first, or leave its texts out (--user, --task, --id).' END;
    END IF;

    -- 3. Restore, one text at a time. Where a plan was made before (by
    --    `textrescue restore`), the live database must still be as it saw
    --    it: a text a student saved since is never overwritten or skipped
    --    unseen.
    FOR p IN SELECT * FROM textrescue_plan ORDER BY n LOOP
        what := format('%s %s-%s (backup id %s)', p.username, p.phase, upper(p.task_name), p.backup_id);
        SELECT t.id, t.created_at, t.modified_at, t.text
            INTO cur_id, live_created, live_modified, cur_text
            FROM textrescue_texts t
            WHERE t.user_id = p.user_id AND t.task_id = p.task_id ORDER BY t.id LIMIT 1;
        IF cur_id IS NULL THEN
            now_action := 'restore';
            live_sha := NULL;
        ELSE
            now_action := policy;
            live_sha := encode(sha256(convert_to(cur_text, 'UTF8')), 'hex');
        END IF;
        IF p.planned_action IS NOT NULL
           AND (p.planned_action IS DISTINCT FROM now_action OR p.planned_live_sha256 IS DISTINCT FROM live_sha) THEN
            RAISE EXCEPTION 'textrescue: nothing restored, nothing changed: % changed in the live database since the plan: %',
                what,
                CASE WHEN cur_id IS NULL THEN 'its live text is gone'
                     WHEN p.planned_live_sha256 IS NULL THEN format('a live text id %s was written', cur_id)
                     ELSE format('the live text id %s was changed', cur_id) END
                USING HINT = 'A student saved a text while the restore was being prepared: run it again to see the new plan.';
        END IF;
        UPDATE textrescue_plan SET action = now_action, live_id = cur_id,
            live_created_at = live_created, live_modified_at = live_modified, live_text = cur_text
            WHERE n = p.n;

        IF now_action = 'skip' THEN
            n_skipped := n_skipped + 1;
            RAISE NOTICE '% %: the live database already has a text for this student and task (id %), left as it is',
                CASE WHEN check_only THEN 'would skip' ELSE 'skipped' END, what, cur_id;
            CONTINUE;
        ELSIF now_action = 'overwrite' THEN
            UPDATE textrescue_texts
                SET text = p.text, created_at = p.created_at, modified_at = p.modified_at
                WHERE id = cur_id;
            UPDATE textrescue_plan SET row_id = cur_id WHERE n = p.n;
            n_overwritten := n_overwritten + 1;
            RAISE NOTICE '% %: the live text id % now holds the backup''s text',
                CASE WHEN check_only THEN 'would overwrite' ELSE 'overwrote' END, what, cur_id;
            CONTINUE;
        ELSIF now_action = 'error' THEN
            RAISE EXCEPTION 'textrescue: nothing restored, nothing changed: % already has a text in the live database (id %)',
                what, cur_id;
        END IF;

        IF NOT EXISTS (SELECT 1 FROM textrescue_texts t WHERE t.id = p.backup_id) THEN
            new_id := p.backup_id;
        ELSE
            -- A fresh id, above every id in the table and in this script.
            SELECT greatest(max(t.id), (SELECT max(backup_id) FROM textrescue_plan))
                INTO top FROM textrescue_texts t;
            IF seq IS NULL OR check_only THEN
                IF seq IS NOT NULL THEN
                    EXECUTE format('SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM %s', seq)
                        INTO seq_next;
                END IF;
                new_id := greatest(top, coalesce(seq_next, 1) - 1, last_new) + 1;
                last_new := new_id;
            ELSE
                new_id := nextval(seq);
                IF new_id <= top THEN
                    PERFORM setval(seq, top);
                    new_id := nextval(seq);
                END IF;
            END IF;
        END IF;
        INSERT INTO textrescue_texts (id, created_at, modified_at, user_id, task_id, text)
            VALUES (new_id, p.created_at, p.modified_at, p.user_id, p.task_id, p.text);
        UPDATE textrescue_plan SET row_id = new_id WHERE n = p.n;
        n_restored := n_restored + 1;
        RAISE NOTICE '% % as id %',
            CASE WHEN check_only THEN 'would restore' ELSE 'restored' END, what,
            new_id || CASE WHEN new_id = p.backup_id THEN '' ELSE ' (a new id: the backup id is taken)' END;
    END LOOP;

    -- 4. Texts to delete (restore --delete-absent), as the plan saw them.
    FOR p IN SELECT * FROM textrescue_delete ORDER BY n LOOP
        SELECT t.id, u.username, k.phase || '-' || upper(k.name), t.created_at, t.modified_at, t.text
            INTO cur_id, live_user, live_task, live_created, live_modified, cur_text
            FROM textrescue_texts t LEFT JOIN textrescue_users u ON u.id = t.user_id LEFT JOIN textrescue_tasks k ON k.id = t.task_id
            WHERE t.id = p.id;
        live_sha := CASE WHEN cur_id IS NULL THEN NULL
                         ELSE encode(sha256(convert_to(cur_text, 'UTF8')), 'hex') END;
        now_action := CASE WHEN cur_id IS NULL THEN 'gone' ELSE 'delete' END;
        IF p.planned_action IS NOT NULL
           AND (p.planned_action IS DISTINCT FROM now_action OR p.planned_live_sha256 IS DISTINCT FROM live_sha) THEN
            RAISE EXCEPTION 'textrescue: nothing restored, nothing changed: the live text id % changed since the plan',
                p.id
                USING HINT = 'A student saved a text while the restore was being prepared: run it again to see the new plan.';
        END IF;
        UPDATE textrescue_delete SET action = now_action, username = live_user, task = live_task,
            live_created_at = live_created, live_modified_at = live_modified, live_text = cur_text
            WHERE n = p.n;
        IF cur_id IS NULL THEN
            RAISE NOTICE 'the live text id % to delete is not there (already gone)', p.id;
        ELSE
            DELETE FROM textrescue_texts WHERE id = p.id;
            n_deleted := n_deleted + 1;
            RAISE NOTICE '% the live text id % (%, %)',
                CASE WHEN check_only THEN 'would delete' ELSE 'deleted' END, p.id, live_user, live_task;
        END IF;
    END LOOP;

    -- 5. The id sequence ahead of every id, so the server's next insert succeeds.
    IF seq IS NOT NULL THEN
        SELECT max(t.id) INTO top FROM textrescue_texts t;
        EXECUTE format('SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM %s', seq)
            INTO seq_next;
        IF check_only AND last_new >= seq_next THEN
            seq_next := last_new + 1; -- the ids a real run would have taken from it
        END IF;
        IF top IS NOT NULL AND seq_next <= top THEN
            IF NOT check_only THEN
                PERFORM setval(seq, top);
            END IF;
            RAISE NOTICE '% % so that the next new text gets id %',
                CASE WHEN check_only THEN 'would move' ELSE 'moved' END, seq, top + 1;
        END IF;
    END IF;

    IF n_deleted > 0 THEN
        RAISE NOTICE 'textrescue: % % live text%', CASE WHEN check_only THEN 'would delete' ELSE 'deleted' END,
            n_deleted, CASE WHEN n_deleted = 1 THEN '' ELSE 's' END;
    END IF;
    IF check_only THEN
        RAISE NOTICE 'textrescue --check: would restore %, skip %, overwrite % (of % texts); nothing was changed',
            n_restored, n_skipped, n_overwritten, n_restored + n_skipped + n_overwritten;
    ELSE
        RAISE NOTICE 'textrescue: restored %, skipped %, overwritten % (of % texts)',
            n_restored, n_skipped, n_overwritten, n_restored + n_skipped + n_overwritten;
    END IF;
END
$textrescue$;
