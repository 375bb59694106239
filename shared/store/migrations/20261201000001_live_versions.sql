-- The live version each archived row was written from (issue: sweeps that
-- overlap). A session's version in Redis goes up with every change, so an
-- archive write replaces a row only with a newer state: a sweeper that read
-- an older snapshot (a lost lease, a Redis failover that brought back an
-- older copy) can no longer overwrite what a newer round committed. Edits
-- of an archived session bump the session's version past every snapshot.
-- Rows archived before this migration start at 0, older than any snapshot.
ALTER TABLE attendances ADD COLUMN live_version bigint NOT NULL DEFAULT 0;
ALTER TABLE attendance_records ADD COLUMN live_version bigint NOT NULL DEFAULT 0;
