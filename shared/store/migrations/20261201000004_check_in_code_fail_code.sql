-- A check-in with a missing, wrong or stale check-in code is now recorded as
-- failed (CHECK_IN_CODE_INVALID, retryable like WIFI_FAILED) instead of being
-- refused with nothing written, so the archive takes its code too. Only the
-- allowed names change (every existing row already has one of the old
-- names), in one statement: one pass over the table to check it.
ALTER TABLE attendance_records
    DROP CONSTRAINT attendance_records_fail_code_check,
    ADD CONSTRAINT attendance_records_fail_code_check
        CHECK (fail_code IN ('WIFI_FAILED', 'WIFI_REQUIRED_BUT_IP_MISSING',
                             'FACE_VERIFICATION_REQUIRED_BUT_IMAGES_MISSING',
                             'FACE_VERIFICATION_SUBMISSION_FAILED', 'REFERENCE_IMAGE_NOT_FOUND',
                             'FACE_VERIFICATION_FAILED', 'FACE_VERIFICATION_TIMED_OUT',
                             'TEACHER_DECISION', 'CHECK_IN_CODE_INVALID'));
