-- Each given chunk's phrase key (registered Arrow table `chunk_ids_input` with row_no, chunk_id), in row order:
-- a hash of its text lower-cased with ASCII punctuation and whitespace runs collapsed to one space, so case,
-- punctuation and spacing variants share a key (a text of punctuation only keeps its own exact text's hash).
-- Output: row_no, phrase_key (UBIGINT)
SELECT i.row_no,
       CASE WHEN trim(regexp_replace(lower(c.text), '[[:punct:][:space:]]+', ' ', 'g')) = ''
            THEN hash(c.text)
            ELSE hash(trim(regexp_replace(lower(c.text), '[[:punct:][:space:]]+', ' ', 'g'))) END AS phrase_key
FROM chunk_ids_input AS i
JOIN chunks AS c ON c.chunk_id = i.chunk_id
ORDER BY i.row_no
