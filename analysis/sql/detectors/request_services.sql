-- request_services: the services that served the window's requests.
-- Inputs: f_requests. Output grain: one row per service.
SELECT DISTINCT service FROM f_requests;
