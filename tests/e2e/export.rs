//! ExportSessionRecords: the roster as a CSV file, live or archived, owner only.

use attn_e2e::TestEnv;
use attn_proto::v1::{ExportSessionRecordsRequest, FailStudentRequest};
use tonic::Code;

use crate::common::{assert_invalid, assert_status, attend, finish_and_archive, start};

/// The whole file, from its chunks, as lines split into cells (the test's
/// cells hold no commas or quotes; the quoting is unit-tested).
async fn export(teacher: &mut attn_e2e::TeacherClient, id: &str) -> Result<Vec<Vec<String>>, tonic::Status> {
    let mut stream =
        teacher.export_session_records(ExportSessionRecordsRequest { attendance_id: id.into() }).await?.into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await? {
        bytes.extend(chunk.csv);
    }
    let text = String::from_utf8(bytes).expect("the export is UTF-8");
    assert!(text.ends_with("\r\n"), "CRLF line ends: {text:?}");
    Ok(text.lines().map(|line| line.split(',').map(str::to_owned).collect()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_exports_the_roster_live_and_archived_with_formulas_neutralised() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let id = start(&mut teacher, "Exported", 1, &[]).await.unwrap().attendance_id;
    for n in [2, 1] {
        attend(&mut clients.demo_student(n).await, &id, "r1").await.unwrap();
    }
    teacher
        .fail_student(FailStudentRequest {
            attendance_id: id.clone(),
            student_number: "demo_student_2".into(),
            reason: "=cmd|' /C calc'!A0".into(),
        })
        .await
        .unwrap();

    let live = export(&mut teacher, &id).await.unwrap();
    assert_eq!(
        live[0],
        [
            "student_number",
            "student_full_name",
            "status",
            "check_in_time_utc",
            "check_in_time_local",
            "fail_code",
            "fail_reason",
            "excuse_reason",
            "deleted_reason",
            "deleted_time_utc"
        ]
    );
    assert_eq!(live.len(), 3, "{live:?}");
    let (first, second) = (&live[1], &live[2]);
    assert_eq!((first[0].as_str(), first[2].as_str()), ("demo_student_1", "ATTENDED"), "sorted by student: {live:?}");
    assert!(first[3].ends_with('Z') && first[3].contains('T'), "a UTC time: {first:?}");
    assert_eq!(
        (second[0].as_str(), second[2].as_str(), second[5].as_str(), second[6].as_str()),
        ("demo_student_2", "FAILED", "TEACHER_DECISION", "'=cmd|' /C calc'!A0"),
        "a formula is shown as text: {second:?}"
    );

    finish_and_archive(&env, &teacher, &id).await;
    assert_eq!(export(&mut teacher, &id).await.unwrap(), live, "the archive exports the same file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_exports_and_the_id_is_checked() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut owner = clients.demo_teacher(1).await;
    let mut other = clients.demo_teacher(2).await;
    let id = start(&mut owner, "Private", 1, &[]).await.unwrap().attendance_id;
    assert_eq!(export(&mut owner, &id).await.unwrap().len(), 1, "an empty roster is the header alone");
    assert_status(export(&mut other, &id).await, Code::NotFound, "you have no attendance session");
    assert_invalid(export(&mut owner, "not-a-uuid").await, "attendance_id");
}
