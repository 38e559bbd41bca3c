-- request_part_names: the distinct parts of f_request_parts, sorted (position = part_id).
-- Inputs: f_request_parts. Output grain: one row per part.
SELECT DISTINCT part FROM f_request_parts ORDER BY part;
