-- ATTN's permanent record. Redis holds live sessions; everything ends up here.

-- The user directory: who can sign in, and everyone who ever appears on a roster.
CREATE TABLE users (
    school_number  text PRIMARY KEY,
    full_name      text NOT NULL,
    role           text NOT NULL CHECK (role IN ('teacher', 'student', 'admin')),
    photo_url      text,
    -- argon2 PHC string; NULL: on rosters, but cannot sign in.
    password_hash  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Archived attendance sessions.
CREATE TABLE attendances (
    attendance_id          uuid PRIMARY KEY,
    lesson_name            text NOT NULL,
    teacher_school_number  text NOT NULL REFERENCES users (school_number),
    teacher_full_name      text NOT NULL,
    start_time             timestamptz NOT NULL,
    end_time               timestamptz NOT NULL,
    security_option        smallint NOT NULL CHECK (security_option BETWEEN 1 AND 3),
    networks               text[] NOT NULL DEFAULT '{}',
    is_deleted             boolean NOT NULL DEFAULT false,
    deletion_reason        text,
    deletion_time          timestamptz,
    archived_at            timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX attendances_by_teacher ON attendances (teacher_school_number, start_time DESC, attendance_id DESC);

CREATE TABLE attendance_records (
    attendance_id      uuid NOT NULL REFERENCES attendances (attendance_id),
    student_number     text NOT NULL REFERENCES users (school_number),
    student_full_name  text NOT NULL,
    is_attended        boolean NOT NULL,
    attendance_time    timestamptz,
    fail_reason        text,
    is_deleted         boolean NOT NULL DEFAULT false,
    deletion_reason    text,
    deletion_time      timestamptz,
    -- A teacher decided this record; a student's new check-in cannot replace it.
    by_teacher         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (attendance_id, student_number)
);

CREATE INDEX attendance_records_by_student ON attendance_records (student_number);

-- One row per sign-in, written when the sign-in ends (logout or expiry).
CREATE TABLE login_history (
    login_id       uuid PRIMARY KEY,
    school_number  text NOT NULL REFERENCES users (school_number),
    role           text NOT NULL,
    started_at     timestamptz NOT NULL,
    ended_at       timestamptz NOT NULL,
    ended_by       text NOT NULL CHECK (ended_by IN ('logout', 'expiry'))
);

CREATE INDEX login_history_by_user ON login_history (school_number, started_at DESC);

-- Every teacher edit: who, when, what it was and what it became.
CREATE TABLE audit_log (
    audit_id        bigserial PRIMARY KEY,
    attendance_id   uuid NOT NULL,
    -- NULL for edits of the session itself (finish, delete).
    student_number  text,
    actor           text NOT NULL,
    action          text NOT NULL,
    old_value       jsonb,
    new_value       jsonb,
    reason          text,
    at              timestamptz NOT NULL,
    -- The session's version at the edit, for edits made while it was live:
    -- lets the sweeper copy them more than once without duplicates.
    live_seq        bigint,
    UNIQUE (attendance_id, live_seq)
);

CREATE INDEX audit_log_by_attendance ON audit_log (attendance_id, at);
