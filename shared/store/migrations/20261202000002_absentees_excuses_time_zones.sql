-- Issue 13: who did not come, who was excused, and where a session was taught.

-- A course session's roster as it stood when the session started: the
-- students enrolled in its course then. The sweeper writes it in the same
-- transaction as the session's records (so, like them, no foreign keys).
-- An archived session's absentees are these students without a record;
-- the course report counts a session for a student who was on it (or has a
-- record there), so a student who enrolled in week 5 is not absent in
-- weeks 1 to 4.
CREATE TABLE attendance_enrolments (
    attendance_id      uuid NOT NULL,
    student_number     text NOT NULL,
    student_full_name  text NOT NULL,
    PRIMARY KEY (attendance_id, student_number)
);

-- "The sessions a student was on the roster of" (GetMyCourseSummary).
CREATE INDEX attendance_enrolments_by_student ON attendance_enrolments (student_number);

-- Course sessions archived before this migration did not keep their
-- roster. The best there is: the course's enrolment now, which is what
-- reports counted them against until now, so their figures do not change.
INSERT INTO attendance_enrolments (attendance_id, student_number, student_full_name)
SELECT a.attendance_id, e.student_number, u.full_name
FROM attendances a
JOIN enrolments e ON e.course_code = a.course_code
JOIN users u ON u.school_number = e.student_number
WHERE a.course_code IS NOT NULL
ON CONFLICT DO NOTHING;

-- Set when the teacher excused the student (ExcuseStudent): why.
ALTER TABLE attendance_records ADD COLUMN excuse_reason text;

-- The teacher's IANA time zone when the session was opened; NULL: UTC.
ALTER TABLE attendances ADD COLUMN time_zone text;
