DO $textrescue$
DECLARE
    c record;
    missing text[] := '{}';
    n integer := 0;
BEGIN
    -- A UTF8 database holds every character; a SQL_ASCII one keeps the
    -- UTF-8 bytes as they are (it converts nothing).
    IF current_setting('server_encoding') IN ('UTF8', 'SQL_ASCII') THEN
        RETURN;
    END IF;
    BEGIN
        PERFORM convert_from(decode(string_agg(utf8, '' ORDER BY code), 'hex'), 'UTF8')
            FROM textrescue_chars;
        RETURN;
    EXCEPTION WHEN untranslatable_character OR character_not_in_repertoire THEN
        NULL; -- at least one is missing: find which, below
    END;
    FOR c IN SELECT * FROM textrescue_chars ORDER BY code LOOP
        BEGIN
            PERFORM convert_from(decode(c.utf8, 'hex'), 'UTF8');
        EXCEPTION WHEN untranslatable_character OR character_not_in_repertoire THEN
            n := n + 1;
            IF n <= 20 THEN
                missing := missing || format('U+%s (%s)', lpad(upper(to_hex(c.code)), greatest(4, length(to_hex(c.code))), '0'),
                                              c.place);
            END IF;
        END;
    END LOOP;
    IF n > 0 THEN
        RAISE EXCEPTION 'textrescue: nothing restored, nothing changed: the database encoding % cannot hold % character%: %',
            current_setting('server_encoding'), n, CASE WHEN n = 1 THEN '' ELSE 's' END,
            array_to_string(missing, ', ')
                || CASE WHEN n > 20 THEN format(' and %s more', n - 20) ELSE '' END
            USING HINT = 'Restore into a UTF8 database, or leave the texts that hold them out (--id, --user, --task).';
    END IF;
END
$textrescue$;
