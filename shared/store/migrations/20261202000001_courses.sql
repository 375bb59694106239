-- Courses and enrolment (issue 13). Course codes are normalised before
-- they get here (trimmed, upper case: `attn_domain::course`), and checked
-- again here.
CREATE TABLE courses (
    course_code   text PRIMARY KEY CHECK (course_code ~ '^[A-Z0-9._-]{1,32}$'),
    display_name  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Who teaches which course. The key serves "the teachers of a course";
-- the index "the courses a teacher teaches" (ListCourses, StartAttendance).
CREATE TABLE course_teachers (
    course_code            text NOT NULL REFERENCES courses (course_code),
    teacher_school_number  text NOT NULL REFERENCES users (school_number),
    PRIMARY KEY (course_code, teacher_school_number)
);

CREATE INDEX course_teachers_by_teacher ON course_teachers (teacher_school_number, course_code);

-- Who is enrolled in which course. The key serves "a course's students"
-- (the session's enrolment set, counts); the index "a student's courses"
-- (the roster import replacing one student's list).
CREATE TABLE enrolments (
    course_code     text NOT NULL REFERENCES courses (course_code),
    student_number  text NOT NULL REFERENCES users (school_number),
    enrolled_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (course_code, student_number)
);

CREATE INDEX enrolments_by_student ON enrolments (student_number, course_code);

-- A session opened for a course: the course (no foreign key: the archive
-- keeps what the session was, whatever becomes of the course) and whether
-- students not enrolled could check in.
ALTER TABLE attendances
    ADD COLUMN course_code text,
    ADD COLUMN allow_walk_ins boolean NOT NULL DEFAULT false;

CREATE INDEX attendances_by_course ON attendances (course_code, start_time) WHERE course_code IS NOT NULL;
