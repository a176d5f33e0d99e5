-- The error log keeps both the status of the HTTP answer (207 for a partial batch) and the failed
-- record's own status within it; before, only one status was kept, derived from the category.
ALTER TABLE hubsync.push_errors ADD COLUMN record_status integer;
COMMENT ON COLUMN hubsync.push_errors.http_status IS
    'status of the HTTP answer received: 207 when the record failed inside a partial batch answer';
COMMENT ON COLUMN hubsync.push_errors.record_status IS
    'the record''s own status within a 207 batch answer; null when the answer was the record''s';
