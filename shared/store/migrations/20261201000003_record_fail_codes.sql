-- Why a record failed, as a code clients switch on (attn.v1.FailCode without
-- its FAIL_CODE_ prefix), stored beside the human fail_reason. It is written
-- with the record and never parsed from the text from now on: a teacher's
-- reason is TEACHER_DECISION whatever it says. NULL: not failed (attended, or
-- a face check still pending). A soft-deleted record keeps its code.
ALTER TABLE attendance_records ADD COLUMN fail_code text
    CHECK (fail_code IN ('WIFI_FAILED', 'WIFI_REQUIRED_BUT_IP_MISSING',
                         'FACE_VERIFICATION_REQUIRED_BUT_IMAGES_MISSING',
                         'FACE_VERIFICATION_SUBMISSION_FAILED', 'REFERENCE_IMAGE_NOT_FOUND',
                         'FACE_VERIFICATION_FAILED', 'FACE_VERIFICATION_TIMED_OUT',
                         'TEACHER_DECISION'));

-- Rows archived before: the code from what the row and the audit log say.
--   * A teacher's record (by_teacher) that is not deleted and has a reason
--     was failed by the teacher: accepting clears the reason and deleting
--     sets is_deleted, so only a teacher's fail leaves both.
--   * A deleted record keeps the reason it had. It is the teacher's when
--     the teacher ever failed or added this student in this session (the
--     audit log has every edit, archived with the session): after that no
--     check-in can replace the record, and only the teacher changes it.
--   * Otherwise the system wrote the reason: its code is the text before
--     any ': ' (FACE_VERIFICATION_FAILED: <the gateway's words>), and a face
--     check still pending has none. Text naming no code can only be a
--     teacher's.
UPDATE attendance_records r SET fail_code = CASE
    WHEN r.by_teacher AND NOT r.is_deleted THEN 'TEACHER_DECISION'
    WHEN r.by_teacher AND EXISTS (
        SELECT 1 FROM audit_log a
        WHERE a.attendance_id = r.attendance_id AND a.student_number = r.student_number
          AND a.action IN ('fail_student', 'add_student')) THEN 'TEACHER_DECISION'
    WHEN r.fail_reason = 'FACE_RECOGNITION_PENDING' THEN NULL
    WHEN btrim(split_part(r.fail_reason, ':', 1)) IN (
        'WIFI_FAILED', 'WIFI_REQUIRED_BUT_IP_MISSING', 'FACE_VERIFICATION_REQUIRED_BUT_IMAGES_MISSING',
        'FACE_VERIFICATION_SUBMISSION_FAILED', 'REFERENCE_IMAGE_NOT_FOUND', 'FACE_VERIFICATION_FAILED',
        'FACE_VERIFICATION_TIMED_OUT') THEN btrim(split_part(r.fail_reason, ':', 1))
    ELSE 'TEACHER_DECISION'
END
WHERE r.fail_reason IS NOT NULL AND NOT r.is_attended;
