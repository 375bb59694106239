-- The rotating check-in code (issue 13): the period, in seconds, of a
-- session that asked students for the code on the projector; NULL for a
-- session that did not. The session's secret is not archived: a code is
-- only of use while the session is open.
ALTER TABLE attendances ADD COLUMN check_in_code_period_secs integer
    CHECK (check_in_code_period_secs BETWEEN 5 AND 300);
