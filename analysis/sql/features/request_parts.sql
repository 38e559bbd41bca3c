-- request_parts: f_request_parts for the detectors as numbers only: the part as an integer id
-- (part_id indexes the sorted list of distinct parts, see request_part_names).
-- Inputs: f_request_parts. Output grain: one row per (request idx, part).
WITH names AS (SELECT part, CAST(row_number() OVER (ORDER BY part) - 1 AS INTEGER) AS part_id
               FROM (SELECT DISTINCT part FROM f_request_parts))
SELECT p.idx, n.part_id, p.ms FROM f_request_parts p JOIN names n USING (part);
