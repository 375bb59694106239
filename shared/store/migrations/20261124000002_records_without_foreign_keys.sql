-- Archiving a session of 10,000 records spent about half its time in the two
-- foreign-key checks on attendance_records, row by row. Both relations hold by
-- construction instead, and the archive keeps them:
--   * a session's records are written in the same transaction as the session
--     (sweep_attendances), or under a lock on the session's row (an edit of an
--     archived session), so no record is ever without its session;
--   * the same transaction first adds every student it archives to users, so
--     every record's student is in the directory when it is archived; and
--     attendance history must outlive a student's later removal from the
--     directory anyway.
ALTER TABLE attendance_records DROP CONSTRAINT attendance_records_attendance_id_fkey;
ALTER TABLE attendance_records DROP CONSTRAINT attendance_records_student_number_fkey;
