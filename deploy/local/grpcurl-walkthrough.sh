#!/usr/bin/env bash
# The operator's grpcurl walkthroughs (the README's "Trying it with grpcurl"
# shows these same lines, and tests/clients runs this file line by line
# against a stack started by deploy/local/run.sh, checking every answer).
# Needs grpcurl, jq and curl; no .proto files: grpcurl asks the services'
# reflection. Against deploy/local/run.sh's defaults, from the repository's
# top directory (the course walkthrough imports a roster with the built
# attendance-service in $BIN, into ATTN_DATABASE_URL's database; it writes
# selfie.jpg and roster.csv in the current directory):
#
#   deploy/local/grpcurl-walkthrough.sh
#
# One command per line, so the test can show each with its output.
set -euo pipefail
API=${API:-localhost:50051}
SWEEPER=${SWEEPER:-localhost:50053}
STANDIN=${STANDIN:-localhost:8090}
BIN=${BIN:-target/debug}

# What is there.
grpcurl -plaintext $API list
grpcurl -plaintext $API describe attn.v1.TeacherService.StartAttendance
grpcurl -plaintext $API describe attn.v1.StartAttendanceRequest

# A teacher signs in and opens a session for an hour.
TEACHER=$(grpcurl -plaintext -d '{"username": "demo_teacher_1", "password": "password"}' $API attn.v1.AuthService/Login | jq -r .accessToken)
grpcurl -plaintext -H "authorization: Bearer $TEACHER" $API attn.v1.AuthService/WhoAmI
grpcurl -plaintext -H "authorization: Bearer $TEACHER" -d '{"lesson_name": "Physics 101", "duration": "3600s", "security_option": "SECURITY_OPTION_MANUAL"}' $API attn.v1.TeacherService/StartAttendance

# A student finds it and checks in (a second check-in is refused).
STUDENT=$(grpcurl -plaintext -d '{"username": "demo_student_1", "password": "password"}' $API attn.v1.AuthService/Login | jq -r .accessToken)
SESSION=$(grpcurl -plaintext -H "authorization: Bearer $STUDENT" -d '{"lesson_name": "Physics 101", "teacher_name": "Demo Teacher 1"}' $API attn.v1.StudentService/FindActiveAttendances | jq -r '.attendances[0].attendanceId')
grpcurl -plaintext -H "authorization: Bearer $STUDENT" -d "{\"attendance_id\": \"$SESSION\", \"request_id\": \"walkthrough-$SESSION\"}" $API attn.v1.StudentService/Attend
grpcurl -plaintext -H "authorization: Bearer $STUDENT" -d "{\"attendance_id\": \"$SESSION\", \"request_id\": \"walkthrough-again-$SESSION\"}" $API attn.v1.StudentService/Attend 2>&1 || true

# The teacher lists the roster (WatchRecords streams it live).
grpcurl -plaintext -H "authorization: Bearer $TEACHER" -d "{\"attendance_id\": \"$SESSION\"}" $API attn.v1.TeacherService/ListRecords

# An operator (role admin) looks at the sweeper's jobs, on the sweeper's port.
ADMIN=$(grpcurl -plaintext -d '{"username": "demo_admin", "password": "password"}' $API attn.v1.AuthService/Login | jq -r .accessToken)
grpcurl -plaintext -H "authorization: Bearer $ADMIN" $SWEEPER attn.v1.SweeperService/ListJobs

# Health, as load balancers and Kubernetes ask it.
grpcurl -plaintext $API grpc.health.v1.Health/Check
grpcurl -plaintext $SWEEPER grpc.health.v1.Health/Check

# The teacher finishes; the sweeper archives the session within the minute.
grpcurl -plaintext -H "authorization: Bearer $TEACHER" -d "{\"attendance_id\": \"$SESSION\"}" $API attn.v1.TeacherService/FinishAttendance

# Security option 3: the same network and a face match. The selfie is any
# JPEG or PNG (here the stand-in's photo of the student, which it matches).
# A teacher has one open session at a time, so each of these ends with Finish.
FACE_SESSION=$(grpcurl -plaintext -H "authorization: Bearer $TEACHER" -d '{"lesson_name": "Anatomy", "duration": "3600s", "security_option": "SECURITY_OPTION_NETWORK_AND_FACE"}' $API attn.v1.TeacherService/StartAttendance | jq -r .attendance.attendanceId)
STUDENT_2=$(grpcurl -plaintext -d '{"username": "demo_student_2", "password": "password"}' $API attn.v1.AuthService/Login | jq -r .accessToken)
curl -sf http://$STANDIN/photos/demo_student_2.jpg -o selfie.jpg
grpcurl -plaintext -H "authorization: Bearer $STUDENT_2" -d "{\"attendance_id\": \"$FACE_SESSION\", \"request_id\": \"face-$FACE_SESSION\", \"selfie\": \"$(base64 -w0 selfie.jpg)\"}" $API attn.v1.StudentService/Attend
grpcurl -plaintext -H "authorization: Bearer $STUDENT_2" -d "{\"attendance_id\": \"$FACE_SESSION\"}" $API attn.v1.StudentService/WatchMyRecord
grpcurl -plaintext -H "authorization: Bearer $TEACHER" -d "{\"attendance_id\": \"$FACE_SESSION\"}" $API attn.v1.TeacherService/FinishAttendance

# A rotating check-in code: the projector streams it (here: its first code,
# then timeout ends the stream), and students attend with the code shown.
CODE_SESSION=$(grpcurl -plaintext -H "authorization: Bearer $TEACHER" -d '{"lesson_name": "Optics", "duration": "3600s", "security_option": "SECURITY_OPTION_MANUAL", "require_check_in_code": true, "check_in_code_period": "30s"}' $API attn.v1.TeacherService/StartAttendance | jq -r .attendance.attendanceId)
CODE=$(timeout 5 grpcurl -plaintext -H "authorization: Bearer $TEACHER" -d "{\"attendance_id\": \"$CODE_SESSION\"}" $API attn.v1.TeacherService/WatchCheckInCode | jq -r .code | head -n 1 || true)
grpcurl -plaintext -H "authorization: Bearer $STUDENT" -d "{\"attendance_id\": \"$CODE_SESSION\", \"request_id\": \"code-$CODE_SESSION\", \"check_in_code\": \"000000\"}" $API attn.v1.StudentService/Attend
grpcurl -plaintext -H "authorization: Bearer $STUDENT" -d "{\"attendance_id\": \"$CODE_SESSION\", \"request_id\": \"code-again-$CODE_SESSION\", \"check_in_code\": \"$CODE\"}" $API attn.v1.StudentService/Attend
grpcurl -plaintext -H "authorization: Bearer $TEACHER" -d "{\"attendance_id\": \"$CODE_SESSION\"}" $API attn.v1.TeacherService/FinishAttendance

# Courses: an operator imports a roster with a courses column; the teacher
# opens a session for the course, whose roster lists every enrolled student.
printf 'school_number,full_name,role,password,courses\nt_cs101,Ada Teacher,teacher,password,CS101=Intro to Programming\ns1,Ana Silva,student,password,CS101\ns2,Bo Chen,student,password,CS101\n' >roster.csv
$BIN/attendance-service import-roster roster.csv
COURSE_TEACHER=$(grpcurl -plaintext -d '{"username": "t_cs101", "password": "password"}' $API attn.v1.AuthService/Login | jq -r .accessToken)
grpcurl -plaintext -H "authorization: Bearer $COURSE_TEACHER" $API attn.v1.TeacherService/ListCourses
COURSE_SESSION=$(grpcurl -plaintext -H "authorization: Bearer $COURSE_TEACHER" -d '{"course_code": "cs101", "duration": "3600s", "security_option": "SECURITY_OPTION_MANUAL", "time_zone": "Europe/Istanbul"}' $API attn.v1.TeacherService/StartAttendance | jq -r .attendance.attendanceId)
S1=$(grpcurl -plaintext -d '{"username": "s1", "password": "password"}' $API attn.v1.AuthService/Login | jq -r .accessToken)
grpcurl -plaintext -H "authorization: Bearer $S1" -d "{\"attendance_id\": \"$COURSE_SESSION\", \"request_id\": \"course-$COURSE_SESSION\"}" $API attn.v1.StudentService/Attend
grpcurl -plaintext -H "authorization: Bearer $STUDENT" -d "{\"attendance_id\": \"$COURSE_SESSION\", \"request_id\": \"course-$COURSE_SESSION\"}" $API attn.v1.StudentService/Attend 2>&1 || true
grpcurl -plaintext -H "authorization: Bearer $COURSE_TEACHER" -d "{\"attendance_id\": \"$COURSE_SESSION\"}" $API attn.v1.TeacherService/ListRecords
grpcurl -plaintext -H "authorization: Bearer $COURSE_TEACHER" -d "{\"attendance_id\": \"$COURSE_SESSION\", \"student_number\": \"s2\", \"reason\": \"doctor's note\"}" $API attn.v1.TeacherService/ExcuseStudent

# The teacher finishes; an operator runs the archiving job now instead of
# waiting for the minute; the course's report and register read the archive.
grpcurl -plaintext -H "authorization: Bearer $COURSE_TEACHER" -d "{\"attendance_id\": \"$COURSE_SESSION\"}" $API attn.v1.TeacherService/FinishAttendance
grpcurl -plaintext -H "authorization: Bearer $ADMIN" -d '{"name": "sweep_attendances"}' $SWEEPER attn.v1.SweeperService/RunJob
grpcurl -plaintext -H "authorization: Bearer $COURSE_TEACHER" -d '{"course_code": "CS101"}' $API attn.v1.TeacherService/GetCourseReport
grpcurl -plaintext -H "authorization: Bearer $COURSE_TEACHER" -d '{"course_code": "CS101", "per_session": true}' $API attn.v1.TeacherService/ExportCourseReport | jq -r .csv | base64 -d
