-- A record deleted in the platform carries when (before, only its 'deleted_in_platform' activity row
-- said so), so the canonical crm.* record can say it too.
ALTER TABLE hubsync.contacts ADD COLUMN deleted_at timestamptz;
ALTER TABLE hubsync.accounts ADD COLUMN deleted_at timestamptz;
COMMENT ON COLUMN hubsync.contacts.deleted_at IS 'deleted in the platform at (kept, takes no more changes)';
COMMENT ON COLUMN hubsync.accounts.deleted_at IS 'deleted in the platform at (kept, takes no more changes)';

UPDATE hubsync.contacts c SET deleted_at = d.at
  FROM (SELECT record_id, min(occurred_at) AS at FROM hubsync.activity_log
         WHERE object_type = 'contact' AND action = 'deleted_in_platform' GROUP BY record_id) d
 WHERE c.id = d.record_id;
UPDATE hubsync.accounts a SET deleted_at = d.at
  FROM (SELECT record_id, min(occurred_at) AS at FROM hubsync.activity_log
         WHERE object_type = 'account' AND action = 'deleted_in_platform' GROUP BY record_id) d
 WHERE a.id = d.record_id;
