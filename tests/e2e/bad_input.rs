//! Bad input is refused with INVALID_ARGUMENT, and the message names the
//! field, so a client can tell its user what to fix.

use std::time::{SystemTime, UNIX_EPOCH};

use attn_e2e::TestEnv;
use attn_proto::v1::{
    AcceptStudentRequest, AddStudentRequest, AttendanceState, DeleteAttendanceRequest, DeleteRecordRequest,
    FailStudentRequest, FindActiveAttendancesRequest, FinishAttendanceRequest, GetLiveAttendanceRequest,
    GetMyRecordRequest, ListAttendancesRequest, ListMyAttendanceRequest, ListRecordsRequest, WatchMyRecordRequest,
    WatchRecordsRequest, start_attendance_request::Ends,
};
use attn_runtime::Reason;
use tonic_types::StatusExt;

use crate::common::{
    assert_invalid, attend, attend_with_selfie, bad_fields, reason_of, start, start_request, status_of,
};

/// A timestamp `offset_secs` from now.
fn from_now(offset_secs: i64) -> Option<Ends> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    Some(Ends::EndTime(prost_types::Timestamp { seconds: now + offset_secs, nanos: 0 }))
}

fn lasting(seconds: i64) -> Option<Ends> {
    Some(Ends::Duration(prost_types::Duration { seconds, nanos: 0 }))
}

#[tokio::test]
async fn an_empty_or_over_long_lesson_name_is_refused_and_nothing_starts() {
    let env = TestEnv::start().await;
    let mut teacher = env.clients().await.demo_teacher(1).await;
    for bad in ["", "   ", &"x".repeat(201)] {
        let result = teacher.start_attendance(start_request(bad, 1, &[])).await;
        assert_invalid(result, "lesson_name");
    }
    let live = teacher.get_live_attendance(GetLiveAttendanceRequest {}).await.unwrap().into_inner();
    assert_eq!(live.attendance, None, "a refused start leaves no session behind");

    // Exactly 200 characters (not bytes) is fine.
    let longest = "é".repeat(200);
    let session = start(&mut teacher, &longest, 1, &[]).await.unwrap();
    assert_eq!(session.lesson_name, longest);
}

#[tokio::test]
async fn a_start_with_several_bad_fields_names_every_one_in_bad_request() {
    let env = TestEnv::start().await;
    let mut teacher = env.clients().await.demo_teacher(1).await;
    let mut request = start_request("", 9, &["10.1.0.0/16", "not-a-network"]);
    request.ends = lasting(-60);
    let status = teacher.start_attendance(request).await.unwrap_err();
    assert_eq!(reason_of(&status), Reason::InvalidArgument, "{status:?}");
    assert_eq!(bad_fields(&status), ["lesson_name", "security_option", "duration", "networks"]);
    let bad = status.get_details_bad_request().unwrap();
    assert!(bad.field_violations.iter().all(|v| !v.description.is_empty()), "{bad:?}");
    // People read them all in the message too, field first.
    assert!(status.message().starts_with("lesson_name: "), "{}", status.message());
    assert!(status.message().contains("; duration: "), "{}", status.message());
    assert!(status.get_details_retry_info().is_none(), "{status:?}");
    let live = teacher.get_live_attendance(GetLiveAttendanceRequest {}).await.unwrap().into_inner();
    assert_eq!(live.attendance, None, "a refused start leaves no session behind");
}

#[tokio::test]
async fn an_end_time_in_the_past_or_more_than_a_day_ahead_is_refused() {
    let env = TestEnv::start().await;
    let mut teacher = env.clients().await.demo_teacher(1).await;
    let day = 24 * 3600;
    for ends in [from_now(-60), from_now(day + 600), from_now(i64::MAX / 2)] {
        let mut request = start_request("Physics", 1, &[]);
        request.ends = ends;
        assert_invalid(teacher.start_attendance(request).await, "end_time");
    }
    let mut request = start_request("Physics", 1, &[]);
    request.ends = from_now(3600);
    teacher.start_attendance(request).await.expect("an hour from now is fine");
}

#[tokio::test]
async fn a_duration_that_is_zero_negative_or_over_a_day_is_refused() {
    let env = TestEnv::start().await;
    let mut teacher = env.clients().await.demo_teacher(1).await;
    for ends in [lasting(0), lasting(-60), lasting(24 * 3600 + 1), lasting(i64::MAX)] {
        let mut request = start_request("Physics", 1, &[]);
        request.ends = ends;
        assert_invalid(teacher.start_attendance(request).await, "duration");
    }
}

#[tokio::test]
async fn a_session_with_no_end_is_refused() {
    let env = TestEnv::start().await;
    let mut teacher = env.clients().await.demo_teacher(1).await;
    let mut request = start_request("Physics", 1, &[]);
    request.ends = None;
    assert_invalid(teacher.start_attendance(request).await, "end_time");
}

#[tokio::test]
async fn an_unknown_security_option_is_refused() {
    let env = TestEnv::start().await;
    let mut teacher = env.clients().await.demo_teacher(1).await;
    for bad in [0, 7, -1] {
        let result = teacher.start_attendance(start_request("Physics", bad, &[])).await;
        assert_invalid(result, "security_option");
    }
}

#[tokio::test]
async fn a_malformed_cidr_in_networks_is_refused() {
    let env = TestEnv::start().await;
    let mut teacher = env.clients().await.demo_teacher(1).await;
    for bad in ["10.0.0.0/33", "banana", "10.0.0/8", "2001:db8::/129", ""] {
        let result = teacher.start_attendance(start_request("Physics", 2, &["10.1.0.0/16", bad])).await;
        assert_invalid(result, "networks");
    }
    let too_many: Vec<String> = (0..33).map(|n| format!("10.{n}.0.0/16")).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    assert_invalid(teacher.start_attendance(start_request("Physics", 2, &too_many)).await, "networks");
}

#[tokio::test]
async fn a_malformed_attendance_id_is_refused_by_every_rpc_that_takes_one() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut student = clients.demo_student(1).await;
    for bad in ["not-a-uuid", "", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5", "' OR 1=1 --"] {
        let id = || bad.to_string();
        let who = || "demo_student_1".to_string();
        assert_invalid(
            teacher.finish_attendance(FinishAttendanceRequest { attendance_id: id() }).await,
            "attendance_id",
        );
        assert_invalid(teacher.list_records(ListRecordsRequest { attendance_id: id() }).await, "attendance_id");
        assert_invalid(teacher.watch_records(WatchRecordsRequest { attendance_id: id() }).await, "attendance_id");
        assert_invalid(
            teacher.accept_student(AcceptStudentRequest { attendance_id: id(), student_number: who() }).await,
            "attendance_id",
        );
        assert_invalid(
            teacher
                .fail_student(FailStudentRequest { attendance_id: id(), student_number: who(), reason: "late".into() })
                .await,
            "attendance_id",
        );
        assert_invalid(
            teacher
                .add_student(AddStudentRequest {
                    attendance_id: id(),
                    student_number: who(),
                    full_name: "Someone".into(),
                    is_attended: true,
                    reason: String::new(),
                })
                .await,
            "attendance_id",
        );
        assert_invalid(
            teacher
                .delete_record(DeleteRecordRequest { attendance_id: id(), student_number: who(), reason: "dup".into() })
                .await,
            "attendance_id",
        );
        assert_invalid(
            teacher.delete_attendance(DeleteAttendanceRequest { attendance_id: id(), reason: "test".into() }).await,
            "attendance_id",
        );
        assert_invalid(attend(&mut student, bad, "req-1").await, "attendance_id");
        assert_invalid(student.get_my_record(GetMyRecordRequest { attendance_id: id() }).await, "attendance_id");
        assert_invalid(student.watch_my_record(WatchMyRecordRequest { attendance_id: id() }).await, "attendance_id");
    }
}

#[tokio::test]
async fn a_malformed_request_id_or_student_number_is_refused() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut student = clients.demo_student(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let id = session.attendance_id;
    for bad in ["r".repeat(65), "has space".into(), "tab\there".into()] {
        assert_invalid(attend(&mut student, &id, &bad).await, "request_id");
    }
    for bad in ["", "a b", "ö", &"s".repeat(65)] {
        let result = teacher
            .accept_student(AcceptStudentRequest { attendance_id: id.clone(), student_number: bad.into() })
            .await;
        assert_invalid(result, "student_number");
    }
    let result = teacher
        .add_student(AddStudentRequest {
            attendance_id: id.clone(),
            student_number: "demo_student_9".into(),
            full_name: String::new(),
            is_attended: true,
            reason: String::new(),
        })
        .await;
    assert_invalid(result, "full_name");
}

#[tokio::test]
async fn a_selfie_over_the_size_limit_is_refused() {
    let env = TestEnv::start_with(|opts| opts.attendance.selfie_max_bytes = 1024).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut student = clients.demo_student(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();

    let mut big = vec![0xFF, 0xD8, 0xFF, 0xE0];
    big.resize(2048, 0x42);
    let result = attend_with_selfie(&mut student, &session.attendance_id, "big", big).await;
    let message = result.as_ref().map_err(|s| s.message().to_owned()).unwrap_err();
    assert!(message.contains("1024"), "the limit is named: {message}");
    assert_invalid(result, "selfie");

    // The refused check-ins wrote nothing; a selfie within the limit is fine.
    let mut small = vec![0xFF, 0xD8, 0xFF, 0xE0];
    small.resize(1024, 0x42);
    let record = attend_with_selfie(&mut student, &session.attendance_id, "small", small).await.unwrap();
    assert_eq!(status_of(&record), attn_proto::v1::RecordStatus::Attended);
}

#[tokio::test]
async fn a_selfie_far_over_the_size_limit_is_still_refused_naming_the_field() {
    let env = TestEnv::start_with(|opts| opts.attendance.selfie_max_bytes = 1024).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut student = clients.demo_student(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    // A phone photo sent to a deployment with a small limit.
    let mut photo = vec![0xFF, 0xD8, 0xFF, 0xE0];
    photo.resize(512 * 1024, 0x42);
    let result = attend_with_selfie(&mut student, &session.attendance_id, "photo", photo).await;
    assert_invalid(result, "selfie");
}

#[tokio::test]
async fn a_selfie_that_is_not_an_image_is_refused() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut student = clients.demo_student(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let text = b"hello, I am a text file named selfie.jpg".to_vec();
    let result = attend_with_selfie(&mut student, &session.attendance_id, "text", text).await;
    assert_invalid(result, "selfie");
}

#[tokio::test]
async fn a_page_token_not_given_out_or_a_negative_page_size_is_refused_and_an_oversized_page_is_capped() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut student = clients.demo_student(1).await;
    let mine = |page_size: i32, page_token: &str| ListMyAttendanceRequest { page_size, page_token: page_token.into() };
    let theirs = |page_size: i32, page_token: &str| ListAttendancesRequest { page_size, page_token: page_token.into() };
    let search = |page_size: i32, page_token: &str| FindActiveAttendancesRequest {
        lesson_name: "Algebra".into(),
        page_size,
        page_token: page_token.into(),
        ..Default::default()
    };
    for bad in ["%%%", "bm9wZQ", "MTIzOm5vdC1hLXV1aWQ"] {
        assert_invalid(teacher.list_attendances(theirs(0, bad)).await, "page_token");
        assert_invalid(student.list_my_attendance(mine(0, bad)).await, "page_token");
        assert_invalid(student.find_active_attendances(search(0, bad)).await, "page_token");
    }
    for negative in [-1, i32::MIN] {
        assert_invalid(teacher.list_attendances(theirs(negative, "")).await, "page_size");
        assert_invalid(student.list_my_attendance(mine(negative, "")).await, "page_size");
        assert_invalid(student.find_active_attendances(search(negative, "")).await, "page_size");
    }
    // AIP-158: more than the maximum is served as the maximum, not refused.
    teacher.list_attendances(theirs(101, "")).await.expect("101 is capped to 100");
    student.list_my_attendance(mine(i32::MAX, "")).await.expect("i32::MAX is capped to 100");
    student.find_active_attendances(search(1000, "")).await.expect("1000 is capped to 100");
}

#[tokio::test]
async fn searching_active_sessions_with_no_words_is_refused() {
    let env = TestEnv::start().await;
    let mut student = env.clients().await.demo_student(1).await;
    for (lesson, teacher) in [("", ""), ("  ", "\t")] {
        let result = student
            .find_active_attendances(FindActiveAttendancesRequest {
                lesson_name: lesson.into(),
                teacher_name: teacher.into(),
                ..Default::default()
            })
            .await;
        assert_invalid(result, "lesson_name");
    }
    let result = student
        .find_active_attendances(FindActiveAttendancesRequest {
            lesson_name: String::new(),
            teacher_name: "t".repeat(201),
            ..Default::default()
        })
        .await;
    assert_invalid(result, "teacher_name");
}

#[tokio::test]
async fn failing_or_deleting_without_a_reason_is_refused() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut student = clients.demo_student(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let id = session.attendance_id;
    attend(&mut student, &id, "r1").await.unwrap();
    let who = || "demo_student_1".to_string();
    for reason in ["", "   ", &"r".repeat(501)] {
        let result = teacher
            .fail_student(FailStudentRequest {
                attendance_id: id.clone(),
                student_number: who(),
                reason: reason.into(),
            })
            .await;
        assert_invalid(result, "reason");
        let result = teacher
            .delete_record(DeleteRecordRequest {
                attendance_id: id.clone(),
                student_number: who(),
                reason: reason.into(),
            })
            .await;
        assert_invalid(result, "reason");
        let result = teacher
            .delete_attendance(DeleteAttendanceRequest { attendance_id: id.clone(), reason: reason.into() })
            .await;
        assert_invalid(result, "reason");
        let result = teacher
            .add_student(AddStudentRequest {
                attendance_id: id.clone(),
                student_number: "demo_student_2".into(),
                full_name: "Demo Student 2".into(),
                is_attended: false,
                reason: reason.into(),
            })
            .await;
        assert_invalid(result, "reason");
    }
    // Nothing changed.
    let mine = student
        .get_my_record(GetMyRecordRequest { attendance_id: id.clone() })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert!(mine.is_attended && !mine.is_deleted, "{mine:?}");
    let live = teacher.get_live_attendance(GetLiveAttendanceRequest {}).await.unwrap().into_inner();
    assert!(live.attendance.is_some_and(|a| a.state() == AttendanceState::Open && a.record_count == Some(1)));
}

#[tokio::test]
async fn an_attend_refused_as_bad_input_does_not_use_up_the_request_id() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut student = clients.demo_student(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let result = attend_with_selfie(&mut student, &session.attendance_id, "same", b"not an image".to_vec()).await;
    assert_invalid(result, "selfie");
    let record = attend(&mut student, &session.attendance_id, "same").await.unwrap();
    assert!(record.is_attended);
}
