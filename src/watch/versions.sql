-- What a poll asks once it knows the row versions: every live text's id and
-- row version (xmin), nothing else (no text, no time printed: cheap in the
-- server). One line: `textrescue-versions ` and `ID XMIN` pairs joined by
-- commas; rows whose version changed are then fetched whole (texts.sql).
SELECT 'textrescue-versions ' || coalesce(string_agg(id::text || ' ' || row_version, ','), '')
FROM textrescue_watched;
