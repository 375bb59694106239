#!/usr/bin/env bash
# The operator's grpcurl walkthrough (deploy/local/README.md shows these same
# commands, and tests/clients runs this file line by line against a real
# stack). Needs grpcurl and jq; no .proto files: grpcurl asks the services'
# reflection. Against deploy/local/run.sh's defaults:
#
#   deploy/local/grpcurl-walkthrough.sh
#
# One command per line, so the test can show each with its output.
set -euo pipefail
API=${API:-localhost:50051}
SWEEPER=${SWEEPER:-localhost:50053}

grpcurl -plaintext $API list
grpcurl -plaintext $API describe attn.v1.TeacherService.StartAttendance
grpcurl -plaintext $API describe attn.v1.StartAttendanceRequest
TEACHER=$(grpcurl -plaintext -d '{"username": "demo_teacher_1", "password": "password"}' $API attn.v1.AuthService/Login | jq -r .accessToken)
grpcurl -plaintext -H "authorization: Bearer $TEACHER" $API attn.v1.AuthService/WhoAmI
grpcurl -plaintext -H "authorization: Bearer $TEACHER" -d '{"lesson_name": "Physics 101", "duration": "3600s", "security_option": "SECURITY_OPTION_MANUAL"}' $API attn.v1.TeacherService/StartAttendance
STUDENT=$(grpcurl -plaintext -d '{"username": "demo_student_1", "password": "password"}' $API attn.v1.AuthService/Login | jq -r .accessToken)
SESSION=$(grpcurl -plaintext -H "authorization: Bearer $STUDENT" -d '{"lesson_name": "Physics 101", "teacher_name": "Demo Teacher 1"}' $API attn.v1.StudentService/FindActiveAttendances | jq -r '.attendances[0].attendanceId')
grpcurl -plaintext -H "authorization: Bearer $STUDENT" -d "{\"attendance_id\": \"$SESSION\", \"request_id\": \"walkthrough-$SESSION\"}" $API attn.v1.StudentService/Attend
grpcurl -plaintext -H "authorization: Bearer $STUDENT" -d "{\"attendance_id\": \"$SESSION\", \"request_id\": \"walkthrough-again-$SESSION\"}" $API attn.v1.StudentService/Attend 2>&1 || true
grpcurl -plaintext -H "authorization: Bearer $TEACHER" -d "{\"attendance_id\": \"$SESSION\"}" $API attn.v1.TeacherService/ListRecords
ADMIN=$(grpcurl -plaintext -d '{"username": "demo_admin", "password": "password"}' $API attn.v1.AuthService/Login | jq -r .accessToken)
grpcurl -plaintext -H "authorization: Bearer $ADMIN" $SWEEPER attn.v1.SweeperService/ListJobs
grpcurl -plaintext $API grpc.health.v1.Health/Check
grpcurl -plaintext $SWEEPER grpc.health.v1.Health/Check
grpcurl -plaintext -H "authorization: Bearer $TEACHER" -d "{\"attendance_id\": \"$SESSION\"}" $API attn.v1.TeacherService/FinishAttendance
